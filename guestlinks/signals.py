"""Logging in ends a guest session in that browser: a browser is a clinician or a guest."""

from typing import Any

from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver

from .access import SESSION_KEY


@receiver(user_logged_in, dispatch_uid="guestlinks_end_guest_session_on_login")
def end_guest_session_on_login(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    session = getattr(request, "session", None)
    if session is not None:
        session.pop(SESSION_KEY, None)
