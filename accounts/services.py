"""Write paths for accounts: creating users, and the login throttle.

A new user is saved by `user_create` (registration from an invitation, the admin's add form,
the demo data) or by `User.objects.create_user`/`create_superuser` (createsuperuser, the
benchmarks); both then run accounts.registry's callbacks in the same transaction, through which
the apps above accounts finish the user (worklists: their personal worklist). The test
factories run the same callbacks.

Failed logins are limited per account (the username typed) and per client address, in fixed
windows counted in the database (accounts.ratelimit), so that guessing a password costs the
guesser time and not the server: over a limit, the password is not even checked. An attempt
claims its place in both counts before its password is checked, so attempts arriving together
cannot all slip under a limit; a right password gives its place back, so only failures count
and people who log in often are never held up.
"""

import logging
import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import DatabaseError, transaction
from django.http import HttpRequest
from django.utils import timezone

from audit.models import AuditEvent
from audit.services import client_ip, record_event

from . import ratelimit, tokens
from .models import ApiToken, UserSession
from .ratelimit import RateLimit
from .registry import user_created

logger = logging.getLogger(__name__)


def user_create(*, user: Any) -> Any:
    """Save a new user and let the apps above accounts finish it (a personal worklist)."""
    with transaction.atomic():
        user.save()
        user_created(user)
    return user


@dataclass(frozen=True)
class LoginAttempt:
    """One login attempt, counted before its password is checked."""

    refused_for: int = 0  # seconds to wait before trying again; 0: the password may be checked
    unavailable: bool = False  # the count could not be kept, so nothing is checked (fail closed)
    at: datetime | None = None
    counted: tuple[tuple[RateLimit, str], ...] = field(default=())

    @property
    def refused(self) -> bool:
        return self.refused_for > 0

    @property
    def status(self) -> int:
        return 503 if self.unavailable else 429

    @property
    def message(self) -> str:
        if self.unavailable:
            return "Logging in is unavailable for a moment; try again in a minute."
        minutes = max(1, math.ceil(self.refused_for / 60))
        return (
            f"Too many failed attempts; try again in {minutes} minute{'s' if minutes != 1 else ''}."
        )


def _account_key(username: str) -> str:
    # One count per account however the name is typed: "Demo" and "demo " are the same guess.
    return username.strip().casefold()[:150]


def login_attempt_start(*, username: str, request: HttpRequest | None) -> LoginAttempt:
    """Count a login attempt for `username` from the request's address, or refuse it.

    The address is counted first: an address over its limit is refused without counting against
    the account, so a flood from one address cannot lock accounts beyond its own allowance.
    The first refusal per limit and window is recorded in the audit trail (a flood cannot grow
    it without bound); the wrong passwords themselves are recorded by the login_failed signal.
    """
    window = settings.LOGIN_FAILURE_WINDOW_SECONDS
    address = client_ip(request) or "unknown"
    checks = [
        (RateLimit("login_address", settings.LOGIN_MAX_FAILURES_PER_ADDRESS, window), address),
        (
            RateLimit("login_account", settings.LOGIN_MAX_FAILURES_PER_ACCOUNT, window),
            _account_key(username),
        ),
    ]
    now = timezone.now()
    counted: list[tuple[RateLimit, str]] = []
    for rate, identity in checks:
        if not rate.limit:
            continue
        try:
            hits = ratelimit.hit(rate, identity, now=now)
        except DatabaseError:
            # Without a count there is no limit: refuse rather than check passwords unlimited.
            logger.exception("Login attempts cannot be counted; refusing logins meanwhile.")
            return LoginAttempt(refused_for=60, unavailable=True)
        counted.append((rate, identity))
        if hits > rate.limit:
            if hits == rate.limit + 1:
                record_event(
                    action=AuditEvent.Action.LOGIN_FAILED,
                    request=request,
                    outcome=AuditEvent.Outcome.DENIED,
                    details={
                        "username": username[:150],
                        "reason": "too_many_failures",
                        "limit": rate.scope,
                    },
                )
            return LoginAttempt(refused_for=rate.retry_after(now), at=now)
    return LoginAttempt(at=now, counted=tuple(counted))


def login_attempt_password_was_right(attempt: LoginAttempt) -> None:
    """The password was right: the attempt gives back its place in the counts."""
    if attempt.at is None:
        return
    for rate, identity in attempt.counted:
        ratelimit.unhit(rate, identity, now=attempt.at)


# ---------------------------------------------------------------------------- API tokens


@transaction.atomic(durable=True)
def api_token_create(*, user: Any, name: str) -> tuple[ApiToken, str]:
    """A new API token of `user`: the row, and the plaintext (shown once, never stored)."""
    plaintext = tokens.new_token()
    token = ApiToken(
        user=user,
        name=name.strip(),
        digest=tokens.token_digest(plaintext),
        prefix=plaintext[:10],
    )
    token.full_clean()
    token.save()
    record_event(
        action=AuditEvent.Action.API_TOKEN_CREATED, actor=user, details={"name": token.name}
    )
    return token, plaintext


@transaction.atomic(durable=True)
def api_token_revoke(*, user: Any, token: ApiToken) -> None:
    """Revoke one of `user`'s own tokens at once (a conditional update: revoked once)."""
    if token.user_id != user.pk:
        raise PermissionDenied("This is not your token.")
    revoked = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    if revoked:
        record_event(
            action=AuditEvent.Action.API_TOKEN_REVOKED, actor=user, details={"name": token.name}
        )


def sessions_end_for_user(*, user: Any, keep_session_key: str | None = None) -> int:
    """End every browser session of `user` but the one with `keep_session_key` (the request's
    own, after a password change): their rows are deleted, so each of those browsers is signed
    out at its next request, in every process. API tokens are not sessions and stay valid:
    they are revoked one by one on the API tokens page. Returns how many sessions ended."""
    sessions = UserSession.objects.filter(user=user)
    if keep_session_key:
        sessions = sessions.exclude(session_key=keep_session_key)
    deleted, _ = sessions.delete()
    return deleted
