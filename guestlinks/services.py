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

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone

from accounts.ratelimit import RateLimit, hit
from audit.models import AuditEvent
from audit.services import client_ip, client_user_agent, record_event
from links.gate import Gate, GateResult
from links.messages import local_time, notify_creator, send_to_recipients
from links.passwords import link_password_hash
from links.ratelimit import GateLimits
from notifications.services import topic_send_again
from studies.models import Study, WorklistEntry
from studies.selectors import study_priors
from worklists.access import has_worklist_perm
from worklists.models import Worklist

from . import onetimecode
from .devices import describe_user_agent
from .leaks import mentions_date, mentions_secret
from .models import (
    DEFAULT_MAX_PASSWORD_ATTEMPTS,
    MAX_EXPIRY_DAYS,
    MAX_LINK_STUDIES,
    MAX_PASSWORD_ATTEMPTS_LIMIT,
    PASSWORD_MAX_LENGTH,
    PASSWORD_MIN_LENGTH,
    GuestLink,
    GuestLinkAccess,
    GuestLinkCode,
    token_digest,
)
from .policy import link_option_errors, link_organisation, merge_errors, policy_for

DEFAULT_EXPIRY = timedelta(days=7)
MAX_EXPIRY = timedelta(days=MAX_EXPIRY_DAYS)

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


def guestlink_studies_check(studies: Sequence[Study]) -> list[Study]:
    """The studies one link may open together, newest first, or a ValidationError under
    "studies": at least one, at most MAX_LINK_STUDIES, and all of one patient (the same
    patient ID and issuer; a study without a patient ID cannot be matched, so it goes alone).
    Which worklist they are in, and so which organisation, is the caller's to check."""
    unique = list({study.pk: study for study in studies}.values())
    if not unique:
        raise ValidationError({"studies": "Select at least one study."})
    if len(unique) > MAX_LINK_STUDIES:
        raise ValidationError(
            {"studies": f"One guest link can open at most {MAX_LINK_STUDIES} studies."}
        )
    if len(unique) > 1:
        if any(not study.patient_id for study in unique):
            raise ValidationError(
                {
                    "studies": "A study without a patient ID cannot share a link with others: "
                    "create a link for it on its own."
                }
            )
        patients = {(study.patient_id, study.issuer_of_patient_id) for study in unique}
        if len(patients) > 1:
            raise ValidationError(
                {"studies": "One guest link can only open studies of the same patient."}
            )
    return sorted(unique, key=lambda study: (study.study_date or date.min, study.pk), reverse=True)


@transaction.atomic
def guestlink_create(
    *,
    actor: Any,
    worklist: Worklist,
    study: Study | None = None,
    studies: Sequence[Study] = (),
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
    one_time_code: bool = False,
    allow_download: bool = False,
    request: HttpRequest | None = None,
) -> GuestLink:
    """Create a guest link for `study`, or for several `studies` of one patient, as seen in
    `worklist`, and send it to its recipients.

    With `studies`, the link opens on `study` when given (it may be one of them or not), else
    on the newest of them; every study must be in `worklist` (`guestlink_studies_check` says
    what else they must be). An explicit `password` overrides `password_is_dob` (the patient's
    birth date as YYYYMMDD).
    `one_time_code`: after the password, a code goes to the recipient (onetimecode.py);
    `allow_download`: the guest may download the study and images (downloads.py).
    """
    if not has_worklist_perm(actor, "create_guest_links", worklist):
        raise PermissionDenied("Your role on this worklist does not allow creating guest links.")
    included = guestlink_studies_check([*([study] if study is not None else []), *studies])
    in_worklist = WorklistEntry.objects.filter(
        worklist=worklist, study__in=[item.pk for item in included]
    ).count()
    if in_worklist != len(included):
        raise PermissionDenied("That study is not in this worklist.")
    study = study if study is not None else included[0]
    extra_studies = [item for item in included if item.pk != study.pk]

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
        errors.update(_message_errors(message, email=email, password=password, studies=included))
    merge_errors(
        errors,
        link_option_errors(
            policy=policy_for(link_organisation(worklist=worklist, actor=actor)),
            now=now,
            expires_at=expires_at,
            max_uses=max_uses,
            password=password,
            password_is_dob=password_is_dob,
            max_password_attempts=max_password_attempts,
            email=email,
            mobile=mobile,
            one_time_code=one_time_code,
            allow_download=allow_download,
        ),
    )
    if one_time_code and not (email or mobile):
        errors["one_time_code"] = (
            "A one-time code goes to the recipient: add their email address or mobile number."
        )
    if errors:
        raise ValidationError(errors)

    link = GuestLink(
        study=study,
        worklist=worklist,
        created_by=actor,
        expires_at=expires_at,
        max_uses=max_uses,
        password_kind=kind,
        password_hash=link_password_hash(secret_text) if secret_text else "",
        max_password_attempts=max_password_attempts,
        email=email,
        message=message,
        mobile=mobile or "",
        notify_on_view=notify_on_view,
        include_priors=include_priors,
        one_time_code=one_time_code,
        allow_download=allow_download,
    )
    link.token_digest = token_digest(link.token)
    link.full_clean()
    link.save()
    if extra_studies:
        link.extra_studies.set(extra_studies)
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
            "one_time_code": link.one_time_code,
            "allow_download": link.allow_download,
            **(
                {"studies": [item.study_instance_uid for item in included]} if extra_studies else {}
            ),
        },
    )
    _send_link(link)
    return link


def _message_errors(
    message: str, *, email: str, password: str, studies: Sequence[Study]
) -> dict[str, list]:
    """The message goes in the same email as the link: never with the password or birth date."""
    problems = []
    if not email:
        problems.append("The message goes in the email: add an email address.")
    if mentions_secret(message, password):
        problems.append(
            "Take the password out of the message: give it to the recipient another way, "
            "never with the link."
        )
    if any(
        study.patient_birth_date and mentions_date(message, study.patient_birth_date)
        for study in studies
    ):
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


# --- change a link over its life ---------------------------------------------------------

UPDATABLE = frozenset(
    {
        "expires_at",
        "max_uses",
        "max_password_attempts",
        "message",
        "email",
        "mobile",
        "one_time_code",
        "allow_download",
        "disabled",
        "unlock",
        "send",
    }
)
# The link's own fields, as the audit trail records what changed (old and new values).
_FIELDS = (
    "expires_at",
    "max_uses",
    "max_password_attempts",
    "message",
    "email",
    "mobile",
    "one_time_code",
    "allow_download",
)


def _audit_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if value is None or isinstance(value, (int, bool)):
        return value
    return str(value)


@transaction.atomic
def guestlink_update(
    *, actor: Any, link: GuestLink, request: HttpRequest | None = None, **changes: Any
) -> GuestLink:
    """Change a link over its life, as its creator or someone who may create links here.

    Changes use the link's own field names (`expires_at`, `max_uses` (None: no limit),
    `max_password_attempts`, `message`, `email`, `mobile`, `one_time_code`, `allow_download`),
    `disabled=True/False` to disable
    or re-enable it, `unlock=True` to unlock a locked link (the wrong-password count starts
    again), and `send=True` to send it to its recipients again. A changed email or mobile is
    sent the link at once while it opens. Every value is checked as at creation and against the
    organisation's policy; the change, and an unlock on its own, are audited.
    """
    if not guestlink_can_delete(user=actor, link=link):
        raise PermissionDenied(
            "Only its creator or someone who may create guest links here may change it."
        )
    unknown = set(changes) - UPDATABLE
    if unknown:
        raise TypeError(f"Guest links have no setting {', '.join(sorted(unknown))}.")
    link = (
        GuestLink.objects.select_for_update(of=("self",))
        .select_related("study", "worklist", "created_by__organisation")
        .get(pk=link.pk)
    )
    if link.deleted_at is not None:
        raise ValidationError("This guest link has been deleted: create a new one instead.")
    unlock = bool(changes.pop("unlock", False))
    send = bool(changes.pop("send", False))
    disabled = changes.pop("disabled", None)
    if "mobile" in changes:
        changes["mobile"] = changes["mobile"] or ""
    for name in ("email", "message"):
        if name in changes:
            changes[name] = changes[name] or ""
    before = {name: getattr(link, name) for name in _FIELDS}
    changed = {name: value for name, value in changes.items() if str(value) != str(before[name])}
    if unlock and link.locked_at is None:
        raise ValidationError({"unlock": "This link is not locked."})

    now = timezone.now()
    errors: dict[str, Any] = {}
    if "expires_at" in changed:
        expires_at = changed["expires_at"]
        if expires_at is None or expires_at <= now:
            errors["expires_at"] = "The expiry must be in the future."
        elif expires_at > now + MAX_EXPIRY:
            errors["expires_at"] = "A guest link can last at most a year."
    if "max_uses" in changed:
        max_uses = changed["max_uses"]
        if max_uses is not None and max_uses < max(link.use_count, 1):
            errors["max_uses"] = (
                f"It has been opened {link.use_count} time{'s' if link.use_count != 1 else ''}: "
                "max uses cannot be lower than that."
            )
    if "max_password_attempts" in changed:
        attempts = changed["max_password_attempts"]
        failures = 0 if unlock else link.password_failures
        if attempts is None or not 1 <= attempts <= MAX_PASSWORD_ATTEMPTS_LIMIT:
            errors["max_password_attempts"] = (
                f"Allow 1 to {MAX_PASSWORD_ATTEMPTS_LIMIT} password attempts."
            )
        elif link.locked_at is None or unlock:
            if attempts <= failures:
                errors["max_password_attempts"] = (
                    f"{failures} wrong password{'s were' if failures != 1 else ' was'} entered "
                    f"already: allow more than {failures}, or unlock the link."
                )
        elif attempts < link.password_failures:
            errors["max_password_attempts"] = "Unlock the link to lower its attempts."
    email = changed.get("email", link.email)
    message = changed.get("message", link.message)
    if changed.get("one_time_code", link.one_time_code) and not (
        email or changed.get("mobile", link.mobile)
    ):
        errors["one_time_code"] = (
            "A one-time code goes to the recipient: keep their email address or mobile number."
        )
    if message and ("message" in changed or "email" in changed):
        # The typed password is not known any more (only its hash): the birth date is checked.
        errors.update(
            _message_errors(
                message, email=email, password="", studies=[link.study, *link.extra_studies.all()]
            )
        )
    policy_options = {
        name: value
        for name, value in changed.items()
        if name
        in (
            "expires_at",
            "max_uses",
            "max_password_attempts",
            "email",
            "mobile",
            "one_time_code",
            "allow_download",
        )
    }
    merge_errors(
        errors,
        link_option_errors(
            policy=policy_for(link_organisation(worklist=link.worklist, actor=link.created_by)),
            now=now,
            **policy_options,
        ),
    )
    if errors:
        raise ValidationError(errors)

    for name, value in changed.items():
        setattr(link, name, value)
    if unlock:
        link.locked_at, link.password_failures, link.code_failures = None, 0, 0
    if disabled is True and link.disabled_at is None:
        link.disabled_at = now
        changed["disabled"] = True
    elif disabled is False and link.disabled_at is not None:
        link.disabled_at = None
        changed["disabled"] = False
    opens = link.state_at(now) == GuestLink.State.ACTIVE
    if send and not opens:
        raise ValidationError(
            {"send": "This link does not open now, so it cannot be sent: enable or extend it."}
        )
    # A new recipient gets the link at once, if it opens (else with "send" once it does).
    resend_to = {name for name in ("email", "mobile") if changed.get(name)} if opens else set()
    if send:
        resend_to |= {name for name in ("email", "mobile") if getattr(link, name)}
    link.full_clean()
    link.save()
    common = {
        "actor": actor,
        "request": request,
        "guest_link_id": link.public_id,
        "study_instance_uid": link.study.study_instance_uid,
    }
    if unlock:
        record_event(action=AuditEvent.Action.GUESTLINK_UNLOCKED, **common)
    if changed or resend_to:
        record_event(
            action=AuditEvent.Action.GUESTLINK_CHANGED,
            **common,
            details={
                "changed": {
                    name: [_audit_value(before.get(name)), _audit_value(value)]
                    for name, value in changed.items()
                    if name in _FIELDS
                }
                | ({"disabled": changed["disabled"]} if "disabled" in changed else {}),
                "sent_to": sorted(resend_to),
            },
        )
    if resend_to:
        _send_link(link, channels=resend_to)
    return link


# --- a guest opens a link ----------------------------------------------------------------


@dataclass(frozen=True)
class OpenResult:
    outcome: str
    link: GuestLink | None = None
    study_ids: frozenset[int] = frozenset()
    attempts_left: int | None = None
    retry_after: int | None = None
    code: GuestLinkCode | None = None  # the one-time code sent (outcome CODE_SENT)


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
    access_model = GuestLinkAccess
    kind = "guestlink"
    select_related = ("study", "worklist", "created_by__organisation")

    def limits(self) -> GateLimits:
        return GateLimits(
            window_seconds=settings.GUESTLINK_RATE_LIMIT_WINDOW_SECONDS,
            per_ip=settings.GUESTLINK_RATE_LIMIT_PER_IP,
            per_link=settings.GUESTLINK_RATE_LIMIT_PER_LINK,
            guesses_per_ip=settings.GUESTLINK_RATE_LIMIT_GUESSES_PER_IP,
        )

    def usable_now(self) -> Q:
        return super().usable_now() & Q(disabled_at__isnull=True)

    def claim_use(self, link_id: int) -> bool:
        return _claim_use(link_id)

    def count_failure(self, link_id: int) -> bool:
        return _count_failure(link_id)

    def password_matches(self, link: GuestLink, password: str) -> bool:
        return _password_matches(link, password)

    def audit_fields(self, link: GuestLink | None) -> dict[str, Any]:
        return {
            "guest_link_id": link.public_id if link is not None else None,
            "study_instance_uid": link.study.study_instance_uid if link is not None else "",
        }

    def on_locked(self, link: GuestLink) -> None:
        _notify_creator(link, "guestlink_locked", {})

    def granted(self, link: GuestLink, request: HttpRequest) -> GateResult:
        if link.one_time_code:
            return _send_code(link, request)
        return _consume_use(link, request)


GATE = GuestGate()


def guestlink_open(
    *, link: GuestLink | None, token: str, password: str, request: HttpRequest
) -> OpenResult:
    """A guest's deliberate attempt (a POST) to open a link, with the password if it has one:
    the shared gate (`links.gate`), where a right password takes a use."""
    result = GATE.attempt(link=link, token=token, password=password, request=request)
    return _open_result(result)


def _open_result(result: GateResult) -> OpenResult:
    sent = result.outcome == Outcome.CODE_SENT
    return OpenResult(
        outcome=result.outcome,
        link=result.link,
        study_ids=frozenset() if sent else result.payload or frozenset(),
        attempts_left=result.attempts_left,
        retry_after=result.retry_after,
        code=result.payload if sent else None,
    )


def _consume_use(link: GuestLink, request: HttpRequest) -> GateResult:
    with transaction.atomic():
        if not GATE.claim_use(link.pk):
            return GATE.refuse(link, request)
        link.refresh_from_db()
        study_ids = link.included_study_ids()
        if link.include_priors:  # the priors of the study it opens on, as for one study
            study_ids |= set(
                study_priors(study=link.study, worklists=[link.worklist]).values_list(
                    "pk", flat=True
                )
            )
        GATE.log_attempt(link, Outcome.OPENED, request, use=link.use_count)
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


# --- the second factor: a one-time code after the password (onetimecode.py) -------------

# Outcomes of the code step that are not logged (nothing was attempted at the link).
NO_CODE = "no_code"  # this session was sent no code for the link: the password comes first
NOT_A_CODE = "not_a_code"  # what was typed is not 6 digits: not counted
RESEND_WAIT = "resend_wait"  # a new code was asked for too soon


def _count_wrong_code(link_id: int) -> bool:
    return onetimecode.count_wrong_code(link_id, GATE.usable_now())


def _send_code(link: GuestLink, request: HttpRequest, replaces: Any = None) -> GateResult:
    """The password was right (or none is needed): send a code instead of opening."""
    limited = onetimecode.send_exceeded(link)
    if limited is not None:
        if limited.first:
            GATE.log_attempt(link, Outcome.RATE_LIMITED, request, reason="codes")
        return GateResult(Outcome.RATE_LIMITED, link, retry_after=limited.retry_after)
    with transaction.atomic():
        challenge = onetimecode.code_issue(link=link, replaces=replaces)
        GATE.log_attempt(
            link, Outcome.CODE_SENT, request, channel=challenge.channel, again=bool(replaces)
        )
    return GateResult(Outcome.CODE_SENT, link, payload=challenge)


def _code_step_refused(
    link: GuestLink | None, token: str, request: HttpRequest
) -> OpenResult | None:
    """What the gate refuses before a code is looked at: rate limits, a link that cannot open."""
    result = GATE.before_check(link=link, token=token, request=request)
    return None if result is None else _open_result(result)


def guestlink_code_check(
    *, link: GuestLink | None, token: str, code: str, request: HttpRequest
) -> OpenResult:
    """A guest's one-time code (a POST at the gate, after the password): a right one, in time
    and not used before, takes the link's use and opens; a wrong one is counted and locks
    the link at CODE_MAX_ATTEMPTS."""
    refused = _code_step_refused(link, token, request)
    if refused is not None or link is None:
        return refused or OpenResult(Outcome.REFUSED)
    challenge = onetimecode.pending_code(request, link)
    if challenge is None:
        return OpenResult(NO_CODE, link)
    digits = onetimecode.normalise(code)
    if digits is None:
        return OpenResult(NOT_A_CODE, link)
    if challenge.used_at is not None or challenge.expires_at <= timezone.now():
        GATE.log_attempt(link, Outcome.CODE_EXPIRED, request)
        return OpenResult(Outcome.CODE_EXPIRED, link)
    if not onetimecode.code_matches(challenge, digits):
        return _open_result(
            GATE.count_wrong(
                link,
                request,
                Outcome.WRONG_CODE,
                count=_count_wrong_code,
                failures="code_failures",
                most=onetimecode.CODE_MAX_ATTEMPTS,
            )
        )
    with transaction.atomic():
        if not onetimecode.code_claim(challenge):  # used by a parallel request, or expired
            GATE.log_attempt(link, Outcome.CODE_EXPIRED, request)
            return OpenResult(Outcome.CODE_EXPIRED, link)
        return _open_result(_consume_use(link, request))


def guestlink_code_resend(
    *, link: GuestLink | None, token: str, request: HttpRequest
) -> OpenResult:
    """The guest asks for a new code: at most once per GUESTLINK_CODE_RESEND_SECONDS per
    session, within the link's allowance of codes; the code it replaces stops working."""
    refused = _code_step_refused(link, token, request)
    if refused is not None or link is None:
        return refused or OpenResult(Outcome.REFUSED)
    challenge = onetimecode.pending_code(request, link)
    if challenge is None:
        return OpenResult(NO_CODE, link)
    wait = onetimecode.resend_wait(challenge)
    if wait:
        return OpenResult(RESEND_WAIT, link, retry_after=wait)
    return _open_result(_send_code(link, request, replaces=challenge))


@transaction.atomic
def guestlink_download_record(
    *, link: GuestLink, study: Study, request: HttpRequest, what: str, **details: Any
) -> None:
    """A guest downloads `what` ("study" or "image") of `study` through a link that allows it:
    one access-log row and one audit event, before the first byte goes out."""
    if not link.allow_download:
        raise PermissionDenied("This link does not allow downloads.")
    GATE.log_attempt(
        link,
        Outcome.DOWNLOADED,
        request,
        action=AuditEvent.Action.GUESTLINK_DOWNLOADED,
        what=what,
        study=study.study_instance_uid,
        **details,
    )


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
    others = link.extra_studies.count()
    return {
        "link_id": str(link.public_id),
        "sender": creator.display_name if creator is not None else "A clinician",
        "organisation": organisation.name if organisation is not None else "",
        "expires": _local_time(link.expires_at, link),
        "has_password": link.has_password,
        "recipient": link.recipient_label or "not recorded",
        "study_summary": (
            ", ".join(
                part
                for part in (
                    study.study_description,
                    study.study_date and study.study_date.strftime("%d/%m/%Y"),
                )
                if part
            )
            or "a study"
        )
        + (f" and {others} more stud{'y' if others == 1 else 'ies'}" if others else ""),
        "study_path": reverse("studies:detail", args=[study.public_id])
        + f"?worklist={link.worklist.public_id}",
    }


def _send_link(
    link: GuestLink, channels: frozenset[str] | set[str] = frozenset({"email", "mobile"})
) -> None:
    context = _link_context(link)
    creator = link.created_by
    # Its delivery state shows in the link's panel; its creator hears if it fails for good.
    watch = {
        "topic": link.delivery_topic,
        "sender_email": creator.email if creator is not None else "",
        "sender_path": context["study_path"] + "&panel=guest-links#guest-links",
    }
    send_to_recipients(link, "guestlink_invite", context, frozenset(channels), **watch)


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


# --- a recipient asks for a new link -----------------------------------------------------

# Asking is cheap for the asker and lands in a clinician's inbox: a few per address an hour,
# and per token a day (counted the same for a token that matches no link: nothing tells them
# apart).
ASK_PER_ADDRESS = RateLimit("guestlink_ask_ip", limit=5, window_seconds=3600)
ASK_PER_TOKEN = RateLimit("guestlink_ask_link", limit=3, window_seconds=86400)
ASK_MESSAGE_MAX_LENGTH = 500


@transaction.atomic
def guestlink_ask_new_link(*, token: str, message: str, request: HttpRequest) -> int | None:
    """A recipient at a link that no longer opens asks its creator for a new one.

    Returns the seconds to wait when over the rate limit, else None. Whatever the token (a
    link that opens, one that does not, or none at all) the caller answers the same: only a
    link that no longer opens tells its creator, by email naming the link; the asker learns
    nothing about the link or the study.
    """
    now = timezone.now()
    address = client_ip(request) or "unknown"
    for rate, identity in ((ASK_PER_ADDRESS, address), (ASK_PER_TOKEN, token_digest(token))):
        if hit(rate, identity, now=now) > rate.limit:
            return rate.retry_after(now)
    link = GATE.find(token)
    if link is None or link.is_usable:
        return None  # nothing to ask for: dropped without a trace the asker could see
    message = " ".join(message.split())[:ASK_MESSAGE_MAX_LENGTH]
    record_event(
        action=AuditEvent.Action.GUESTLINK_NEW_LINK_ASKED,
        request=request,
        guest_link_id=link.public_id,
        study_instance_uid=link.study.study_instance_uid,
        details={"state": link.state, "with_message": bool(message)},
    )
    _notify_creator(
        link,
        "guestlink_new_link_asked",
        {
            "state": link.state_label.lower(),
            "created": _local_time(link.created_at, link),
            "asked_message": message,
        },
    )
    return None
