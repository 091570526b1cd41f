"""Login auditing: Django reports logins only through these signals."""

from typing import Any

from django.conf import settings
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.db.models.signals import post_save
from django.dispatch import receiver

from audit.models import AuditEvent
from audit.services import record_event


@receiver(user_logged_in)
def audit_login(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    record_event(action=AuditEvent.Action.LOGIN, actor=user, request=request)


@receiver(user_login_failed)
def audit_login_failed(sender: Any, credentials: dict, request: Any = None, **kwargs: Any) -> None:
    # The attempted username is not PHI, but never the password (Django already masks it).
    record_event(
        action=AuditEvent.Action.LOGIN_FAILED,
        request=request,
        outcome=AuditEvent.Outcome.FAILURE,
        details={"username": str(credentials.get("username", ""))[:150]},
    )


@receiver(post_save, sender=settings.AUTH_USER_MODEL)
def give_new_user_a_personal_worklist(
    sender: Any, instance: Any, created: bool, **kwargs: Any
) -> None:
    # A signal, not a service call, because users are created in many places Django owns
    # (admin, createsuperuser, fixtures); every one of them must get a personal worklist.
    if created and not kwargs.get("raw"):
        from worklists.services import personal_worklist_ensure

        personal_worklist_ensure(user=instance)
