"""The one gate every bearer link is opened through (guest links, upload links).

Counters change only through conditional UPDATEs (`claim_use`, `count_failure`), so that
concurrent requests can never use a link more often than allowed nor count more wrong
passwords than the link's attempts allow.

The password is checked first, and only then is the attempt counted: a wrong one takes one of
the link's attempts with one conditional UPDATE that holds the row lock until commit, so the
decisions are made one after the other; what a right one does is the kind's (`Gate.granted`: a
guest link takes a use at once, an upload link when an upload completes). Attempts are a cap on
WRONG passwords: any number of right passwords arriving at once all pass while uses remain, and
exactly `max_password_attempts` wrong ones are counted (the last of them locks the link) however
many arrive at once. Checks that run in parallel with the lock and finish after it reveal
nothing: a right and a wrong password then get the same "unavailable" page. What bounds the
number of (Argon2) checks is the rate limit, counted before any hashing, and the usability check
before hashing: a link already locked, expired, deleted or used up checks nothing.

GET and HEAD never reach this module: only a deliberate POST is an attempt.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.http import HttpRequest
from django.utils import timezone

from audit.models import AuditEvent
from audit.services import client_ip, client_user_agent, link_attempt_action, record_event

from .models import TOKEN_LENGTH, AccessOutcome, BearerLink, LinkAccess, token_digest
from .passwords import link_password_matches
from .ratelimit import GateLimits, attempt_exceeded

L = TypeVar("L", bound=BearerLink)

Outcome = AccessOutcome


@dataclass(frozen=True)
class GateResult:
    outcome: str
    link: Any = None
    attempts_left: int | None = None
    retry_after: int | None = None
    payload: Any = None  # what a granted attempt gave (the kind's)


# How an outcome at the gate reads in the audit trail; anything else is DENIED.
AUDIT_OUTCOMES: dict[str, str] = {
    Outcome.OPENED: AuditEvent.Outcome.SUCCESS,
    Outcome.WRONG_PASSWORD: AuditEvent.Outcome.FAILURE,
    Outcome.CODE_SENT: AuditEvent.Outcome.SUCCESS,
    Outcome.WRONG_CODE: AuditEvent.Outcome.FAILURE,
    Outcome.DOWNLOADED: AuditEvent.Outcome.SUCCESS,
}


def audit_outcome(outcome: str) -> str:
    return str(AUDIT_OUTCOMES.get(outcome, AuditEvent.Outcome.DENIED))


def find_link(links: QuerySet[L], token: str) -> L | None:
    """The link this URL token opens, looked up by digest and compared in constant time."""
    if len(token) != TOKEN_LENGTH:
        return None
    link = links.filter(token_digest=token_digest(token)).first()
    if link is None or not link.matches_token(token):
        return None
    return link


class Gate(Generic[L]):
    """One kind of link at the gate. A kind names its model, its access log and its audit
    actions, and supplies its limits, how its audit events name a link, what a right password
    grants, and whom to tell when a link locks."""

    model: type[L]
    access_model: type[LinkAccess]
    kind: str  # "guestlink" or "uploadlink": names its audit actions (link_attempt_action)
    select_related: tuple[str, ...] = ()

    # --- what a kind supplies ------------------------------------------------------------

    def limits(self) -> GateLimits:
        raise NotImplementedError

    def audit_fields(self, link: L | None) -> dict[str, Any]:
        """record_event's keyword arguments that name `link` (a `details` dict is merged)."""
        raise NotImplementedError

    def granted(self, link: L, request: HttpRequest) -> GateResult:
        """A right password (or none needed) at a usable link."""
        raise NotImplementedError

    def on_locked(self, link: L) -> None:
        """The attempt that locked the link has been counted (in its transaction)."""

    # --- the access log ------------------------------------------------------------------

    def log_attempt(
        self,
        link: L | None,
        outcome: str,
        request: HttpRequest,
        *,
        action: str | None = None,
        **details: Any,
    ) -> None:
        """One row in the kind's access log and one audit event, in one transaction.
        `action` overrides the audit action (else opened or attempt, by the outcome)."""
        fields = self.audit_fields(link)
        named = fields.pop("details", {})
        with transaction.atomic():
            self.access_model._default_manager.create(  # type: ignore[misc]  # the kind's `link`
                link=link,
                outcome=outcome,
                ip_address=client_ip(request),
                user_agent=client_user_agent(request),
            )
            record_event(
                action=action
                or link_attempt_action(
                    kind=self.kind, result=outcome, locked=bool(details.get("locked"))
                ),
                request=request,
                outcome=audit_outcome(outcome),
                details={"result": outcome, **named, **details},
                **fields,
            )

    # --- lookups and counters ------------------------------------------------------------

    def find(self, token: str) -> L | None:
        return find_link(self.model._default_manager.select_related(*self.select_related), token)

    def usable_now(self) -> Q:
        """The conditions under which a link may take one more use or password attempt."""
        return Q(deleted_at__isnull=True, locked_at__isnull=True, expires_at__gt=timezone.now()) & (
            Q(max_uses__isnull=True) | Q(use_count__lt=F("max_uses"))
        )

    def claim_use(self, link_id: int) -> bool:
        """Take one use, atomically: only while uses remain and the link is not expired,
        deleted or locked."""
        return bool(
            self.model._default_manager.filter(self.usable_now(), pk=link_id).update(
                use_count=F("use_count") + 1
            )
        )

    def count_failure(self, link_id: int) -> bool:
        """Count one wrong password, atomically: only while the link may still open and fewer
        than the maximum wrong passwords have been counted."""
        return bool(
            self.model._default_manager.filter(
                self.usable_now(), pk=link_id, password_failures__lt=F("max_password_attempts")
            ).update(password_failures=F("password_failures") + 1)
        )

    def password_matches(self, link: L, password: str) -> bool:
        def store(new_hash: str) -> None:
            # Only if the hash is still the one checked (a creator may have changed it since).
            self.model._default_manager.filter(pk=link.pk, password_hash=link.password_hash).update(
                password_hash=new_hash
            )
            link.password_hash = new_hash

        return link_password_matches(password, link.password_hash, rehashed=store)

    # --- an attempt ----------------------------------------------------------------------

    def attempt(
        self, *, link: L | None, token: str, password: str, request: HttpRequest
    ) -> GateResult:
        """A visitor's deliberate attempt (a POST) at a link, with the password if it has one.

        Rate limits are counted first (nothing is hashed when over them, and only the first
        limited attempt per limit and window is logged); a link that cannot open is refused
        without hashing; then the password is checked, and a wrong one counted, or the kind
        grants what the link gives.
        """
        refused = self.before_check(link=link, token=token, request=request)
        if refused is not None or link is None:
            return refused or GateResult(Outcome.REFUSED)
        if link.has_password and not self.password_matches(link, password):
            return self.wrong_password(link, request)
        return self.granted(link, request)

    def before_check(
        self, *, link: L | None, token: str, request: HttpRequest
    ) -> GateResult | None:
        """What every attempt meets before anything is checked (also a kind's later step, such
        as a second factor): the rate limits, and a link that cannot open. None: go on."""
        limited = attempt_exceeded(
            self.limits(),
            address=client_ip(request) or "unknown",
            digest=token_digest(token),
            opens_nothing=link is None or not link.is_usable,
        )
        if limited is not None:
            if limited.first:  # once per limit and window: a flood cannot grow the logs
                self.log_attempt(link, Outcome.RATE_LIMITED, request)
            return GateResult(Outcome.RATE_LIMITED, link, retry_after=limited.retry_after)
        if link is None or not link.is_usable:
            return self.refuse(link, request)
        return None

    def refuse(self, link: L | None, request: HttpRequest) -> GateResult:
        if link is None:
            self.log_attempt(None, Outcome.REFUSED, request, reason="unknown")
            return GateResult(Outcome.REFUSED)
        link.refresh_from_db()
        self.log_attempt(link, Outcome.REFUSED, request, reason=link.state)
        return GateResult(Outcome.REFUSED, link)

    def wrong_password(self, link: L, request: HttpRequest) -> GateResult:
        return self.count_wrong(
            link,
            request,
            Outcome.WRONG_PASSWORD,
            count=self.count_failure,
            failures="password_failures",
            most="max_password_attempts",
        )

    def count_wrong(
        self,
        link: L,
        request: HttpRequest,
        outcome: str,
        *,
        count: Callable[[int], bool],
        failures: str,
        most: str | int,
    ) -> GateResult:
        """Count one wrong answer (a password, or a kind's second factor) with `count`, a
        conditional UPDATE of the link's `failures` counter, and lock the link when it reaches
        `most` (a field's name, or a number)."""
        limit = F(most) if isinstance(most, str) else most
        with transaction.atomic():
            # The counting UPDATE holds the row lock until commit, so concurrent wrong
            # answers are counted one after the other; the one that brings the count to the
            # maximum locks the link in the same transaction, and those waiting behind it then
            # find it locked and are refused (the conditional UPDATE also makes sure the
            # creator is told once).
            if not count(link.pk):
                return self.refuse(link, request)
            locked = self.model._default_manager.filter(
                pk=link.pk, locked_at__isnull=True, **{f"{failures}__gte": limit}
            ).update(locked_at=timezone.now())
            link.refresh_from_db()
            self.log_attempt(link, outcome, request, locked=bool(locked))
            if locked:
                self.on_locked(link)
        allowed = getattr(link, most) if isinstance(most, str) else most
        left = 0 if link.locked_at else max(allowed - getattr(link, failures), 0)
        return GateResult(outcome, link, attempts_left=left)
