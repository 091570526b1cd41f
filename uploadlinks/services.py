"""Write paths for upload links: create, update, delete; the gate; and an upload's life.

The gate is the one every bearer link shares (`links.gate`): GET and HEAD consume nothing, a
POST is rate-limited before any password is hashed, wrong passwords are counted by a
conditional UPDATE and lock the link at the maximum. A right password uses nothing: it starts
an upload session (`access.py`). A use is taken when an upload COMPLETES: the staged files are
ingested in the same transaction as the conditional UPDATE that claims the use, so of any
number of uploads completing at once on a link with N uses left, exactly N are ingested and
the others are refused with nothing imported; an upload that is never completed imports
nothing, and its staged chunks are deleted (`upload_prune_staging`).

What an upload may touch is the ingest's isolation rule narrowed to the link
(`studies.services.IngestScope`): it creates studies in the link's worklist and adds only to
studies that earlier uploads through the same link created.
"""

from datetime import datetime, timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import F, Q
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from audit.services import client_ip, record_event
from links.gate import Gate, GateResult
from links.messages import local_time, notify_creator, send_to_recipients
from links.models import (
    DEFAULT_MAX_PASSWORD_ATTEMPTS,
    MAX_PASSWORD_ATTEMPTS_LIMIT,
    AccessOutcome,
    token_digest,
)
from links.passwords import link_password_hash
from links.ratelimit import GateLimits, Limited
from studies.archives import skipped_name
from studies.services import IngestScope, discard_stored, study_ingest_scoped
from worklists.access import worklist_permissions
from worklists.models import Worklist

from . import staging
from .models import StagedFile, Upload, UploadedStudy, UploadLink, UploadLinkAccess
from .ratelimit import gate_limits, upload_start_exceeded

PASSWORD_MIN_LENGTH = 6
PASSWORD_MAX_LENGTH = 128
DEFAULT_EXPIRY = timedelta(days=7)
MAX_EXPIRY = timedelta(days=366)
NAME_MAX_LENGTH = 500
PERMISSION = "manage_upload_links"

Outcome = AccessOutcome


class UploadRefused(Exception):
    """An upload that cannot go ahead, with the reason to show (and an HTTP status)."""

    def __init__(self, message: str, status: int = 400, retry_after: int | None = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.retry_after = retry_after


# --- permissions -------------------------------------------------------------------------


def uploadlink_can_manage(*, user: Any, worklist: Worklist) -> bool:
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    return PERMISSION in worklist_permissions(user, worklist)


def _require_manage(actor: Any, worklist: Worklist) -> None:
    if not uploadlink_can_manage(user=actor, worklist=worklist):
        raise PermissionDenied("Your role on this worklist does not allow managing upload links.")


# --- create, update, delete --------------------------------------------------------------


def _validate(
    *,
    now: datetime,
    expires_at: datetime,
    max_uses: int | None,
    use_count: int,
    password: str | None,
    max_password_attempts: int,
    message: str,
    email: str,
) -> dict[str, Any]:
    errors: dict[str, Any] = {}
    if expires_at <= now:
        errors["expires_at"] = "The expiry must be in the future."
    elif expires_at > now + MAX_EXPIRY:
        errors["expires_at"] = "An upload link can last at most a year."
    if max_uses is not None:
        if max_uses < 1:
            errors["max_uses"] = "Allow at least one upload, or leave it empty for no limit."
        elif max_uses < use_count:
            errors["max_uses"] = (
                f"It has already been used {use_count} times: allow at least that many."
            )
    if password and not PASSWORD_MIN_LENGTH <= len(password) <= PASSWORD_MAX_LENGTH:
        errors["password"] = (
            f"Use {PASSWORD_MIN_LENGTH} to {PASSWORD_MAX_LENGTH} characters for the password."
        )
    if not 1 <= max_password_attempts <= MAX_PASSWORD_ATTEMPTS_LIMIT:
        errors["max_password_attempts"] = (
            f"Allow 1 to {MAX_PASSWORD_ATTEMPTS_LIMIT} password attempts."
        )
    if message and not email:
        errors["message"] = "The message goes in the email: add an email address."
    elif message and password and password.lower() in message.lower():
        errors["message"] = (
            "Take the password out of the message: give it to the recipient another way, "
            "never with the link."
        )
    return errors


def _audit_details(link: UploadLink) -> dict[str, Any]:
    return {
        "upload_link": str(link.public_id),
        "worklist": str(link.worklist.public_id),
        "label": link.label,
        "max_uses": link.max_uses,
        "expires_at": link.expires_at.isoformat(),
        "password": link.has_password,
        "max_password_attempts": link.max_password_attempts,
        "email": link.email,
        "mobile": str(link.mobile) if link.mobile else "",
        "notify_on_upload": link.notify_on_upload,
        "disabled": link.disabled_at is not None,
    }


@transaction.atomic
def uploadlink_create(
    *,
    actor: Any,
    worklist: Worklist,
    max_uses: int | None = None,
    expires_at: datetime | None = None,
    password: str = "",
    max_password_attempts: int | None = None,
    email: str = "",
    message: str = "",
    mobile: Any = "",
    notify_on_upload: bool = False,
    label: str = "",
    request: HttpRequest | None = None,
) -> UploadLink:
    """Create an upload link into `worklist` and send it to its recipients."""
    _require_manage(actor, worklist)
    now = timezone.now()
    expires_at = expires_at or now + DEFAULT_EXPIRY
    if max_password_attempts is None:
        max_password_attempts = DEFAULT_MAX_PASSWORD_ATTEMPTS
    errors = _validate(
        now=now,
        expires_at=expires_at,
        max_uses=max_uses,
        use_count=0,
        password=password,
        max_password_attempts=max_password_attempts,
        message=message,
        email=email,
    )
    if errors:
        raise ValidationError(errors)
    link = UploadLink(
        worklist=worklist,
        created_by=actor,
        label=label.strip(),
        expires_at=expires_at,
        max_uses=max_uses,
        password_hash=link_password_hash(password) if password else "",
        max_password_attempts=max_password_attempts,
        email=email,
        message=message,
        mobile=mobile or "",
        notify_on_upload=notify_on_upload,
    )
    link.token_digest = token_digest(link.token)
    link.full_clean()
    link.save()
    record_event(
        action=AuditEvent.Action.UPLOADLINK_CREATED,
        actor=actor,
        request=request,
        guest_link_id=link.public_id,
        details=_audit_details(link),
    )
    _send_link(link)
    return link


UPDATABLE = {
    "expires_at",
    "max_uses",
    "password",
    "max_password_attempts",
    "email",
    "message",
    "mobile",
    "notify_on_upload",
    "label",
    "disabled",
}


@transaction.atomic
def uploadlink_update(
    *, actor: Any, link: UploadLink, request: HttpRequest | None = None, **changes: Any
) -> UploadLink:
    """Change a link: extend it, change its limits, message or password, disable or re-enable
    it (`disabled=True/False`). A password of "" keeps the current one; `password=None`
    removes it. A deleted link cannot be changed."""
    _require_manage(actor, link.worklist)
    unknown = set(changes) - UPDATABLE
    if unknown:
        raise TypeError(f"Upload links have no setting {', '.join(sorted(unknown))}.")
    link = UploadLink.objects.select_for_update().select_related("worklist").get(pk=link.pk)
    if link.deleted_at is not None:
        raise ValidationError("This upload link has been deleted; create a new one.")
    changed = set(changes)
    password = changes.pop("password", "")
    disabled = changes.pop("disabled", None)
    if password == "":
        changed.discard("password")
    for name, value in changes.items():
        setattr(link, name, value if value is not None or name == "max_uses" else "")
    if "label" in changes:
        link.label = (link.label or "").strip()
    errors = _validate(
        now=timezone.now(),
        expires_at=link.expires_at,
        max_uses=link.max_uses,
        use_count=link.use_count,
        password=password or "",
        max_password_attempts=link.max_password_attempts,
        message=link.message,
        email=link.email,
    )
    if "expires_at" not in changes:
        errors.pop("expires_at", None)  # an expired link may still be renamed or disabled
    if errors:
        raise ValidationError(errors)
    if password is None:
        link.password_hash = ""
    elif password:
        link.password_hash = link_password_hash(password)
    if link.password_failures > link.max_password_attempts:
        link.password_failures = link.max_password_attempts
    if disabled is True and link.disabled_at is None:
        link.disabled_at = timezone.now()
    elif disabled is False:
        link.disabled_at = None
    link.full_clean()
    link.save()
    record_event(
        action=AuditEvent.Action.UPLOADLINK_CHANGED,
        actor=actor,
        request=request,
        guest_link_id=link.public_id,
        details={**_audit_details(link), "changed": sorted(changed)},
    )
    return link


def uploadlink_can_delete(*, user: Any, link: UploadLink) -> bool:
    """Its creator, or anyone who may manage the worklist's upload links."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    return link.created_by_id == user.pk or uploadlink_can_manage(user=user, worklist=link.worklist)


@transaction.atomic
def uploadlink_delete(*, actor: Any, link: UploadLink, request: HttpRequest | None = None) -> None:
    """Delete a link: it stops working at once, also for an upload page already open (its
    staged files are dropped; what earlier uploads imported stays in the worklist)."""
    if not uploadlink_can_delete(user=actor, link=link):
        raise PermissionDenied("You may not delete this upload link.")
    now = timezone.now()
    updated = UploadLink.objects.filter(pk=link.pk, deleted_at__isnull=True).update(
        deleted_at=now, deleted_by=actor
    )
    if not updated:
        return  # already deleted: nothing changes, nothing to record
    link.deleted_at, link.deleted_by = now, actor
    staged = list(
        Upload.objects.filter(link=link, status=Upload.Status.STAGING).values_list(
            "public_id", flat=True
        )
    )
    Upload.objects.filter(link=link, status=Upload.Status.STAGING).update(
        status=Upload.Status.REFUSED
    )
    for public_id in staged:
        transaction.on_commit(partial(staging.remove, public_id))
    record_event(
        action=AuditEvent.Action.UPLOADLINK_DELETED,
        actor=actor,
        request=request,
        guest_link_id=link.public_id,
        details={"upload_link": str(link.public_id), "worklist": str(link.worklist.public_id)},
    )


# --- the gate ----------------------------------------------------------------------------


def _claim_use(link_id: int) -> bool:
    """Take one use (the race tests swap in a naive version of this name)."""
    return Gate.claim_use(GATE, link_id)


class UploadGate(Gate[UploadLink]):
    """Upload links at the shared gate: a right password opens the upload page; a use is
    taken only when an upload completes (`upload_complete`)."""

    model = UploadLink
    access_model = UploadLinkAccess
    kind = "uploadlink"
    select_related = ("worklist", "created_by__organisation")

    def limits(self) -> GateLimits:
        return gate_limits()

    def usable_now(self) -> Q:
        return super().usable_now() & Q(disabled_at__isnull=True)

    def audit_fields(self, link: UploadLink | None) -> dict[str, Any]:
        return {
            "guest_link_id": link.public_id if link is not None else None,
            "details": {"upload_link": str(link.public_id) if link is not None else None},
        }

    def on_locked(self, link: UploadLink) -> None:
        _notify_creator(link, "uploadlink_locked", {})

    def granted(self, link: UploadLink, request: HttpRequest) -> GateResult:
        self.log_attempt(link, Outcome.OPENED, request)
        return GateResult(Outcome.OPENED, link)


GATE = UploadGate()


def uploadlink_find(token: str) -> UploadLink | None:
    return GATE.find(token)


def uploadlink_open(
    *, link: UploadLink | None, token: str, password: str, request: HttpRequest
) -> GateResult:
    """A visitor's deliberate attempt (a POST) at an upload link's gate."""
    return GATE.attempt(link=link, token=token, password=password, request=request)


# --- an upload ---------------------------------------------------------------------------


def _human(size: int) -> str:
    from studies.dicom import human_size

    return human_size(size)


def upload_start(*, link: UploadLink, files: list[tuple[str, int]], request: HttpRequest) -> Upload:
    """Announce an upload: its files' names and sizes, checked against the limits before any
    byte is accepted."""
    if not link.is_usable:
        raise UploadRefused("This link is no longer available.", status=404)
    limited: Limited | None = upload_start_exceeded(
        address=client_ip(request) or "unknown", link_id=link.pk
    )
    if limited is not None:
        raise UploadRefused(
            "Too many uploads from your network through this link; please wait "
            f"{max(1, round(limited.retry_after / 60))} minutes.",
            status=429,
            retry_after=limited.retry_after,
        )
    if not files:
        raise UploadRefused("Choose at least one file.")
    max_files = settings.UPLOADLINK_MAX_UPLOAD_FILES
    if len(files) > max_files:
        raise UploadRefused(
            f"That is {len(files):,} files; one upload may hold at most {max_files:,}. "
            "Upload them in parts, or as a zip archive.",
            status=413,
        )
    total = 0
    for name, size in files:
        if not isinstance(size, int) or size < 0:
            raise UploadRefused("A file's size is missing.")
        if size > settings.DICOM_MAX_ARCHIVE_SIZE:
            raise UploadRefused(
                f"{name[:100]} is too large ({_human(size)}; "
                f"the limit is {_human(settings.DICOM_MAX_ARCHIVE_SIZE)}).",
                status=413,
            )
        total += size
    if total > settings.UPLOADLINK_MAX_UPLOAD_BYTES:
        raise UploadRefused(
            f"The files add up to {_human(total)}; one upload may hold at most "
            f"{_human(settings.UPLOADLINK_MAX_UPLOAD_BYTES)}. Upload them in parts.",
            status=413,
        )
    with transaction.atomic():
        upload = Upload.objects.create(link=link, total_bytes=total, ip_address=client_ip(request))
        StagedFile.objects.bulk_create(
            StagedFile(
                upload=upload, index=index, name=(name or "file")[:NAME_MAX_LENGTH], size=size
            )
            for index, (name, size) in enumerate(files)
        )
    staging.upload_dir(upload.public_id).mkdir(parents=True, exist_ok=True)
    return upload


def upload_receive(
    *, upload: Upload, index: int, offset: int, stream: Any, length: int
) -> StagedFile:
    """Store one chunk of one file at `offset`. A chunk resent after a dropped connection
    replaces what the broken one left; a chunk past what has arrived is refused (409, with
    where to resume). The row lock keeps two requests for one file from interleaving."""
    if length > settings.UPLOADLINK_CHUNK_BYTES:
        raise UploadRefused(
            f"Send at most {settings.UPLOADLINK_CHUNK_BYTES} bytes per request.", status=413
        )
    with transaction.atomic():
        staged = (
            StagedFile.objects.select_for_update()
            .filter(upload=upload, index=index, upload__status=Upload.Status.STAGING)
            .first()
        )
        if staged is None:
            raise UploadRefused("This upload is no longer open.", status=404)
        if offset > staged.received or offset < 0:
            raise UploadRefused("Resume from what has arrived.", status=409)
        if offset + length > staged.size:
            raise UploadRefused("That is more than the file's announced size.", status=413)
        written = staging.write_at(
            staging.staged_path(upload.public_id, index), offset, stream, length
        )
        staged.received = offset + written
        staged.save(update_fields=["received"])
    if written < length:
        raise UploadRefused("The connection broke during the chunk; resume.", status=409)
    return staged


def _staged_files(upload: Upload) -> list[tuple[str, Any]]:
    """The staged files to ingest, by the names the browser gave (for the report only). A
    DICOMDIR and the like are skipped as for folders on disk: paths are never taken from it."""
    return [
        (staged.name, staging.staged_path(upload.public_id, staged.index))
        for staged in upload.files.order_by("index")
        if not skipped_name(staged.name)
    ]


def upload_complete(
    *,
    upload: Upload,
    uploader_name: str,
    uploader_email: str = "",
    note: str = "",
    request: HttpRequest,
) -> Upload:
    """Ingest a fully arrived upload and count it as one use of its link, in one transaction:
    the claim of the use holds the link's row lock until the ingest commits, so uploads on one
    link complete one after the other and never more than its uses allow. An upload that
    accepts no file at all gives its use back (the report says why each file was refused)."""
    uploader_name = uploader_name.strip()
    if not uploader_name:
        raise UploadRefused("Please give your name, so the clinic knows who sent the images.")
    if upload.files.filter(received__lt=F("size")).exists():
        raise UploadRefused("Some files have not fully arrived yet; resume the upload.", 409)
    stored: list[str] = []  # what the ingest writes, to delete if the transaction rolls back
    try:
        with transaction.atomic(durable=True):
            locked = Upload.objects.select_for_update().get(pk=upload.pk)
            if locked.status != Upload.Status.STAGING:
                raise UploadRefused("This upload has already been completed.", 409)
            link = UploadLink.objects.select_related("worklist", "created_by").get(
                pk=upload.link_id
            )
            if not _claim_use(link.pk):
                locked.status = Upload.Status.REFUSED
                locked.completed_at = timezone.now()
                locked.uploader_name = uploader_name[:200]
                locked.save(update_fields=["status", "completed_at", "uploader_name"])
                GATE.log_attempt(link, Outcome.REFUSED, request, reason=link.state)
                refused = True
            else:
                refused = False
                link.refresh_from_db()
                # Computed under the link's row lock (held since the claim), so an upload
                # completing just before this one is counted in.
                scope = _scope(locked, link, uploader_name, stored)
                report = study_ingest_scoped(
                    worklist=link.worklist,
                    files=_staged_files(locked),
                    scope=scope,
                    request=request,
                )
                _record_completed(locked, link, report, uploader_name, uploader_email, note)
                if not report.accepted:
                    UploadLink.objects.filter(pk=link.pk).update(use_count=F("use_count") - 1)
                _audit_upload(link, locked, report, request)
                if report.accepted and link.notify_on_upload:
                    _notify_creator(link, "uploadlink_received", _received_context(locked, report))
    except BaseException:
        discard_stored(stored)  # their rows were rolled back with the rest
        raise
    staging.remove(upload.public_id)
    upload.refresh_from_db()
    if refused:
        raise UploadRefused(
            "This link has been used as often as it allows; nothing was imported. Ask for a "
            "new link.",
            status=410,
        )
    return upload


def _entry_note(uploader_name: str, link: UploadLink) -> str:
    return f"Uploaded by {uploader_name[:120]} through upload link {link.display_label[:100]}"


def _scope(upload: Upload, link: UploadLink, uploader_name: str, stored: list[str]) -> IngestScope:
    """What this upload may touch: new studies, and studies the link's uploads created."""
    created_before = frozenset(
        UploadedStudy.objects.filter(upload__link=link, created=True).values_list(
            "study_id", flat=True
        )
    )
    return IngestScope(
        may_extend=created_before,
        note=_entry_note(uploader_name, link),
        details={"upload_link": str(link.public_id), "upload": str(upload.public_id)},
        stored_files=stored,
    )


def _record_completed(
    upload: Upload,
    link: UploadLink,
    report: Any,
    uploader_name: str,
    uploader_email: str,
    note: str,
) -> None:
    upload.status = Upload.Status.COMPLETED if report.accepted else Upload.Status.REFUSED
    upload.completed_at = timezone.now()
    upload.uploader_name = uploader_name[:200]
    upload.uploader_email = uploader_email[:254]
    upload.note = note[:2000]
    upload.imported = report.imported
    upload.already_present = report.already_present
    upload.rejected_total = report.rejected.total
    upload.rejected = [[name[:NAME_MAX_LENGTH], reason] for name, reason in report.rejected]
    upload.save()
    UploadedStudy.objects.bulk_create(
        UploadedStudy(
            upload=upload,
            study=study,
            created=study.pk in report.created,
            imported=report.per_study.get(study.pk, {}).get("imported", 0),
            already_present=report.per_study.get(study.pk, {}).get("already_present", 0),
        )
        for study in report.studies
    )


def _audit_upload(link: UploadLink, upload: Upload, report: Any, request: Any) -> None:
    record_event(
        action=AuditEvent.Action.UPLOADLINK_UPLOADED,
        request=request,
        guest_link_id=link.public_id,
        # One study: its UID, so that it is in that study's history; several: in the details.
        study_instance_uid=(
            report.studies[0].study_instance_uid if len(report.studies) == 1 else ""
        ),
        outcome=AuditEvent.Outcome.SUCCESS if report.accepted else AuditEvent.Outcome.FAILURE,
        details={
            "upload_link": str(link.public_id),
            "upload": str(upload.public_id),
            "worklist": str(link.worklist.public_id),
            "uploader": upload.uploader_name,
            "uploader_email": upload.uploader_email,
            "imported": report.imported,
            "already_present": report.already_present,
            "rejected": report.rejected.total,
            "studies": [study.study_instance_uid for study in report.studies],
        },
    )


def upload_prune_staging(*, older_than: timedelta | None = None) -> int:
    """Abandon uploads left in staging longer than UPLOADLINK_STAGING_MAX_AGE_HOURS and delete
    their chunks: an interrupted upload imports nothing."""
    age = older_than or timedelta(hours=settings.UPLOADLINK_STAGING_MAX_AGE_HOURS)
    stale = list(
        Upload.objects.filter(
            status=Upload.Status.STAGING, created_at__lt=timezone.now() - age
        ).values_list("pk", "public_id")
    )
    for pk, public_id in stale:
        if Upload.objects.filter(pk=pk, status=Upload.Status.STAGING).update(
            status=Upload.Status.REFUSED
        ):
            staging.remove(public_id)
    return len(stale)


# --- messages ----------------------------------------------------------------------------


def _link_context(link: UploadLink) -> dict[str, Any]:
    """What every message about a link may say: never the token (templates derive the URL
    from the public id when they render), never the password."""
    creator = link.created_by
    organisation = creator.organisation if creator is not None else None
    return {
        "link_id": str(link.public_id),
        "label": link.display_label,
        "sender": creator.display_name if creator is not None else "A clinician",
        "organisation": organisation.name if organisation is not None else "",
        "expires": local_time(link.expires_at, link),
        "has_password": link.has_password,
        "worklist": link.worklist.name,
        "worklist_path": reverse("worklists:detail", args=[link.worklist.public_id]),
    }


def _received_context(upload: Upload, report: Any) -> dict[str, Any]:
    return {
        "uploader": upload.uploader_name,
        "uploader_email": upload.uploader_email,
        "note": upload.note,
        "studies": len(report.studies),
        "imported": report.imported,
        "rejected": report.rejected.total,
    }


def _send_link(link: UploadLink) -> None:
    send_to_recipients(link, "uploadlink_invite", _link_context(link))


def _notify_creator(link: UploadLink, template: str, extra: dict[str, Any]) -> None:
    notify_creator(link, template, {**_link_context(link), **extra})
