"""Write paths for guest links: create, delete, and a guest's attempt to open one.

The attempt goes through the gate every bearer link shares (`links.gate`, whose docstring says
how its counters hold under races). Counters change only through conditional UPDATEs
(`_count_failure`, `_claim_use`), so that concurrent requests can never use a link more often
than allowed nor count more wrong passwords than the link's attempts allow.

The password is checked first, and only then is the attempt counted: a right password takes a
use, a wrong one takes one of the link's attempts, each with one conditional UPDATE that holds
the row lock until commit, so the decisions are made one after the other. Attempts are a cap on
WRONG passwords: any number of right passwords arriving at once all open while uses remain, and
exactly `max_password_attempts` wrong ones are counted (the last of them locks the link) however
many arrive at once. Checks that run in parallel with the lock and finish after it reveal
nothing: a right and a wrong password then get the same "unavailable" page. What bounds the
number of (Argon2) checks is the rate limit, counted before any hashing, and the usability check
before hashing: a link already locked, expired, deleted or used up checks nothing.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from audit.services import client_ip, client_user_agent, link_attempt_action, record_event
from links.gate import Gate, GateResult
from links.messages import local_time, notify_creator, send_to_recipients
from links.ratelimit import GateLimits
from notifications.services import topic_send_again
from studies.models import Study, WorklistEntry
from studies.selectors import study_priors
from worklists.access import has_worklist_perm
from worklists.models import Worklist

from .devices import describe_user_agent
from .leaks import mentions_date, mentions_secret
from .models import (
    DEFAULT_MAX_PASSWORD_ATTEMPTS,
    MAX_PASSWORD_ATTEMPTS_LIMIT,
    GuestLink,
    GuestLinkAccess,
    token_digest,
)

PASSWORD_MIN_LENGTH = 6
PASSWORD_MAX_LENGTH = 128
DEFAULT_EXPIRY = timedelta(days=7)
MAX_EXPIRY = timedelta(days=366)

Outcome = GuestLinkAccess.Outcome


# --- permissions -------------------------------------------------------------------------


def guestlink_can_delete(*, user: Any, link: GuestLink) -> bool:
    """Its creator, or anyone who may create guest links on the link's worklist."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    return link.created_by_id == user.pk or has_worklist_perm(
        user, "create_guest_links", link.worklist
    )


# --- create and delete -------------------------------------------------------------------


@transaction.atomic
def guestlink_create(
    *,
    actor: Any,
    study: Study,
    worklist: Worklist,
    max_uses: int | None = None,
    expires_at: datetime | None = None,
    password: str = "",
    password_is_dob: bool = False,
    max_password_attempts: int | None = DEFAULT_MAX_PASSWORD_ATTEMPTS,
    email: str = "",
    message: str = "",
    mobile: Any = "",
    notify_on_view: bool = False,
    include_priors: bool = False,
    request: HttpRequest | None = None,
) -> GuestLink:
    """Create a guest link for `study` as seen in `worklist`, and send it to its recipients.

    An explicit `password` overrides `password_is_dob` (the patient's birth date as YYYYMMDD).
    """
    if not has_worklist_perm(actor, "create_guest_links", worklist):
        raise PermissionDenied("Your role on this worklist does not allow creating guest links.")
    if not WorklistEntry.objects.filter(worklist=worklist, study=study).exists():
        raise PermissionDenied("That study is not in this worklist.")

    now = timezone.now()
    errors: dict[str, Any] = {}
    expires_at = expires_at or now + DEFAULT_EXPIRY
    if expires_at <= now:
        errors["expires_at"] = "The expiry must be in the future."
    elif expires_at > now + MAX_EXPIRY:
        errors["expires_at"] = "A guest link can last at most a year."
    kind, secret_text = GuestLink.PasswordKind.NONE, ""
    if password:
        kind, secret_text = GuestLink.PasswordKind.PASSWORD, password
        if not PASSWORD_MIN_LENGTH <= len(password) <= PASSWORD_MAX_LENGTH:
            errors["password"] = (
                f"Use {PASSWORD_MIN_LENGTH} to {PASSWORD_MAX_LENGTH} characters for the password."
            )
    elif password_is_dob:
        if study.patient_birth_date is None:
            errors["password_is_dob"] = (
                "This study has no birth date, so it cannot be the password."
            )
        else:
            kind = GuestLink.PasswordKind.BIRTH_DATE
            secret_text = study.patient_birth_date.strftime("%Y%m%d")
    if max_password_attempts is None:
        max_password_attempts = DEFAULT_MAX_PASSWORD_ATTEMPTS
    elif not 1 <= max_password_attempts <= MAX_PASSWORD_ATTEMPTS_LIMIT:
        errors["max_password_attempts"] = (
            f"Allow 1 to {MAX_PASSWORD_ATTEMPTS_LIMIT} password attempts."
        )
    if message:
        errors.update(_message_errors(message, email=email, password=password, study=study))
    if errors:
        raise ValidationError(errors)

    link = GuestLink(
        study=study,
        worklist=worklist,
        created_by=actor,
        expires_at=expires_at,
        max_uses=max_uses,
        password_kind=kind,
        password_hash=make_password(secret_text) if secret_text else "",
        max_password_attempts=max_password_attempts,
        email=email,
        message=message,
        mobile=mobile or "",
        notify_on_view=notify_on_view,
        include_priors=include_priors,
    )
    link.token_digest = token_digest(link.token)
    link.full_clean()
    link.save()
    record_event(
        action=AuditEvent.Action.GUESTLINK_CREATED,
        actor=actor,
        request=request,
        guest_link_id=link.public_id,
        study_instance_uid=study.study_instance_uid,
        details={
            "worklist": str(worklist.public_id),
            "max_uses": link.max_uses,
            "expires_at": link.expires_at.isoformat(),
            "password": link.password_kind,
            "max_password_attempts": link.max_password_attempts,
            "email": link.email,
            "mobile": str(link.mobile) if link.mobile else "",
            "notify_on_view": link.notify_on_view,
            "include_priors": link.include_priors,
        },
    )
    _send_link(link)
    return link


def _message_errors(message: str, *, email: str, password: str, study: Study) -> dict[str, list]:
    """The message goes in the same email as the link: never with the password or birth date."""
    problems = []
    if not email:
        problems.append("The message goes in the email: add an email address.")
    if mentions_secret(message, password):
        problems.append(
            "Take the password out of the message: give it to the recipient another way, "
            "never with the link."
        )
    if study.patient_birth_date and mentions_date(message, study.patient_birth_date):
        problems.append(
            "Take the patient's birth date out of the message: it must never go out with the link."
        )
    return {"message": problems} if problems else {}


@transaction.atomic
def guestlink_delete(*, actor: Any, link: GuestLink, request: HttpRequest | None = None) -> None:
    """Make the link unusable at once, also for guest sessions opened through it."""
    if not guestlink_can_delete(user=actor, link=link):
        raise PermissionDenied(
            "Only its creator or someone who may create guest links here may delete it."
        )
    now = timezone.now()
    deleted = GuestLink.objects.filter(pk=link.pk, deleted_at__isnull=True).update(
        deleted_at=now, deleted_by=actor
    )
    if not deleted:
        return  # already deleted: nothing changes, nothing to record
    link.deleted_at, link.deleted_by = now, actor
    record_event(
        action=AuditEvent.Action.GUESTLINK_DELETED,
        actor=actor,
        request=request,
        guest_link_id=link.public_id,
        study_instance_uid=link.study.study_instance_uid,
    )


# --- a guest opens a link ----------------------------------------------------------------


@dataclass(frozen=True)
class OpenResult:
    outcome: str
    link: GuestLink | None = None
    study_ids: frozenset[int] = frozenset()
    attempts_left: int | None = None
    retry_after: int | None = None


# The gate's counters and password check, as module functions: the race tests swap in naive
# versions of these names to show that they would catch the race.
def _count_failure(link_id: int) -> bool:
    return Gate.count_failure(GATE, link_id)


def _claim_use(link_id: int) -> bool:
    return Gate.claim_use(GATE, link_id)


def _password_matches(link: GuestLink, password: str) -> bool:
    return Gate.password_matches(GATE, link, password)


class GuestGate(Gate[GuestLink]):
    """Guest links at the shared gate: a right password takes a use and opens the study."""

    model = GuestLink
    select_related = ("study", "worklist", "created_by__organisation")

    def limits(self) -> GateLimits:
        return GateLimits(
            window_seconds=settings.GUESTLINK_RATE_LIMIT_WINDOW_SECONDS,
            per_ip=settings.GUESTLINK_RATE_LIMIT_PER_IP,
            per_link=settings.GUESTLINK_RATE_LIMIT_PER_LINK,
            guesses_per_ip=settings.GUESTLINK_RATE_LIMIT_GUESSES_PER_IP,
        )

    def claim_use(self, link_id: int) -> bool:
        return _claim_use(link_id)

    def count_failure(self, link_id: int) -> bool:
        return _count_failure(link_id)

    def password_matches(self, link: GuestLink, password: str) -> bool:
        return _password_matches(link, password)

    def log_attempt(
        self, link: GuestLink | None, outcome: str, request: HttpRequest, **details: Any
    ) -> None:
        _log_attempt(link, outcome, request, **details)

    def on_locked(self, link: GuestLink) -> None:
        _notify_creator(link, "guestlink_locked", {})

    def granted(self, link: GuestLink, request: HttpRequest) -> GateResult:
        return _consume_use(link, request)


GATE = GuestGate()


def guestlink_open(
    *, link: GuestLink | None, token: str, password: str, request: HttpRequest
) -> OpenResult:
    """A guest's deliberate attempt (a POST) to open a link, with the password if it has one:
    the shared gate (`links.gate`), where a right password takes a use."""
    result = GATE.attempt(link=link, token=token, password=password, request=request)
    return OpenResult(
        outcome=result.outcome,
        link=result.link,
        study_ids=result.payload or frozenset(),
        attempts_left=result.attempts_left,
        retry_after=result.retry_after,
    )


def _log_attempt(
    link: GuestLink | None, outcome: str, request: HttpRequest, **details: Any
) -> None:
    audit_outcome: str = {
        Outcome.OPENED.value: AuditEvent.Outcome.SUCCESS.value,
        Outcome.WRONG_PASSWORD.value: AuditEvent.Outcome.FAILURE.value,
    }.get(outcome, AuditEvent.Outcome.DENIED.value)
    with transaction.atomic():
        GuestLinkAccess.objects.create(
            link=link,
            outcome=outcome,
            ip_address=client_ip(request),
            user_agent=client_user_agent(request),
        )
        record_event(
            action=link_attempt_action(
                kind="guestlink", result=outcome, locked=bool(details.get("locked"))
            ),
            request=request,
            guest_link_id=link.public_id if link is not None else None,
            study_instance_uid=link.study.study_instance_uid if link is not None else "",
            outcome=audit_outcome,
            details={"result": outcome, **details},
        )


def _consume_use(link: GuestLink, request: HttpRequest) -> GateResult:
    with transaction.atomic():
        if not GATE.claim_use(link.pk):
            return GATE.refuse(link, request)
        link.refresh_from_db()
        study_ids = {link.study_id}
        if link.include_priors:
            study_ids |= set(
                study_priors(study=link.study, worklists=[link.worklist]).values_list(
                    "pk", flat=True
                )
            )
        _log_attempt(link, Outcome.OPENED, request, use=link.use_count)
        if link.notify_on_view:
            uses_left = link.uses_left
            _notify_creator(
                link,
                "guestlink_opened",
                {
                    "opened_at": _local_time(timezone.now(), link),
                    "ip_address": client_ip(request) or "unknown",
                    "device": describe_user_agent(client_user_agent(request)),
                    "uses_left": "no limit" if uses_left is None else str(uses_left),
                },
            )
    return GateResult(Outcome.OPENED, link, payload=frozenset(study_ids))


@transaction.atomic
def guestlink_record_view(*, link: GuestLink, study: Study, request: HttpRequest) -> None:
    """A guest viewed a study page through a guest session."""
    record_event(
        action=AuditEvent.Action.STUDY_OPENED,
        request=request,
        guest_link_id=link.public_id,
        study_instance_uid=study.study_instance_uid,
        details={"guest": True},
    )


# --- messages ----------------------------------------------------------------------------


def _local_time(moment: datetime, link: GuestLink) -> str:
    return local_time(moment, link)


def _link_context(link: GuestLink) -> dict[str, Any]:
    """What every message about a link may say. Never the token (the outbox is a table too:
    templates derive the URL from the link's public id when they render), never a password,
    never the birth date."""
    creator = link.created_by
    organisation = creator.organisation if creator is not None else None
    study = link.study
    return {
        "link_id": str(link.public_id),
        "sender": creator.display_name if creator is not None else "A clinician",
        "organisation": organisation.name if organisation is not None else "",
        "expires": _local_time(link.expires_at, link),
        "has_password": link.has_password,
        "recipient": link.recipient_label or "not recorded",
        "study_summary": ", ".join(
            part
            for part in (
                study.study_description,
                study.study_date and study.study_date.strftime("%d/%m/%Y"),
            )
            if part
        )
        or "a study",
        "study_path": reverse("studies:detail", args=[study.public_id])
        + f"?worklist={link.worklist.public_id}",
    }


def _send_link(link: GuestLink) -> None:
    context = _link_context(link)
    creator = link.created_by
    # Its delivery state shows in the link's panel; its creator hears if it fails for good.
    watch = {
        "topic": link.delivery_topic,
        "sender_email": creator.email if creator is not None else "",
        "sender_path": context["study_path"] + "&panel=guest-links#guest-links",
    }
    send_to_recipients(link, "guestlink_invite", context, **watch)


@transaction.atomic(durable=True)
def guestlink_send_again(*, actor: Any, link: GuestLink) -> int:
    """Its creator (or someone who may create links here) sends an undelivered link again.

    Only messages that failed for good go again; returns how many.
    """
    if not guestlink_can_delete(user=actor, link=link):
        raise PermissionDenied(
            "Only its creator or someone who may create guest links here may send it again."
        )
    if not link.is_usable:
        raise ValidationError("This link no longer opens: create a new one instead.")
    count = topic_send_again(topic=link.delivery_topic)
    if not count:
        raise ValidationError("There is nothing to send again: no message of this link failed.")
    return count


def _notify_creator(link: GuestLink, template: str, extra: dict[str, Any]) -> None:
    notify_creator(link, template, {**_link_context(link), **extra})
