"""Login auditing and the clinician's session limits: Django reports logins only through
these signals."""

from typing import Any

from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.dispatch import receiver

from audit.models import AuditEvent
from audit.services import record_event

from .sessions import clinician_session_start


@receiver(user_logged_in)
def audit_login(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    record_event(action=AuditEvent.Action.LOGIN, actor=user, request=request)


@receiver(user_logged_in)
def start_session_limits(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    session = getattr(request, "session", None)
    if session is not None:
        clinician_session_start(session)


@receiver(user_login_failed)
def audit_login_failed(sender: Any, credentials: dict, request: Any = None, **kwargs: Any) -> None:
    # The attempted username is not PHI, but never the password (Django already masks it).
    record_event(
        action=AuditEvent.Action.LOGIN_FAILED,
        request=request,
        outcome=AuditEvent.Outcome.FAILURE,
        details={"username": str(credentials.get("username", ""))[:150]},
    )
