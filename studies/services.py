"""Write paths for studies: DICOM ingest from files, folders and zip archives.

One ingest is many small transactions, one per file, so that a bad file leaves nothing behind
while the good files of the same upload still go in. The per-file transaction locks the
study row, so two uploads into the same study serialise and the study's counters, computed
from the rows themselves, stay right.

Isolation: Study, Series and SOP Instance UIDs are unique in the whole database, and a file
may only add to a study that the uploader can already see in the target worklist (or that it
creates). A file whose UIDs belong to any other study is refused with one neutral reason,
`NOT_HERE`, and nothing of it is stored: the upload neither merges into that study nor adds it
to the worklist. Putting an existing study into another worklist is sharing, with its own
permissions, partnership rule and audit trail (`sharing.services`); an upload right is not that.
"""

from __future__ import annotations

import logging
import os
import struct
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path, PurePosixPath
from typing import IO, Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import Count, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce
from django.http import HttpRequest

from audit.models import AuditEvent
from audit.services import record_event
from dicomweb.tasks import prerender_study
from worklists.models import Worklist
from worklists.selectors import user_has_worklist_perm

from .dicom import DicomRejected, ParsedInstance, human_size, parse_dicom
from .models import Instance, Series, Study, WorklistEntry

logger = logging.getLogger(__name__)

FileSource = str | os.PathLike[str] | IO[bytes]
Progress = Callable[[str], None]

# Names that are never DICOM and are not worth a line in the report.
_JUNK_NAMES = {".ds_store", "thumbs.db", "desktop.ini", "dicomdir"}
_COPY_CHUNK = 1024 * 1024
# Rejected files listed one by one in a report; the rest are counted (an archive of a million
# junk members must not make a million-row page).
REPORT_MAX_REJECTED = 200
# A zip member this small may unpack at any ratio (the ratio limit is for bombs, not headers).
_RATIO_EXEMPT_BYTES = 1024 * 1024


class RejectedFiles(list[tuple[str, str]]):
    """(name, reason) of rejected files: the first REPORT_MAX_REJECTED kept, all counted."""

    def __init__(self) -> None:
        super().__init__()
        self.total = 0
        self.last: tuple[str, str] | None = None

    def append(self, item: tuple[str, str]) -> None:
        self.total += 1
        self.last = item
        if len(self) < REPORT_MAX_REJECTED:
            super().append(item)

    @property
    def not_listed(self) -> int:
        return self.total - len(self)


# The one reason given for a file whose UIDs belong to a study that this ingest may not add
# to, whatever that study is and wherever it lives: it must not tell the uploader that the UID
# exists in another worklist or organisation.
NOT_HERE = "This study cannot be added here."


@dataclass
class IngestReport:
    imported: int = 0
    already_present: int = 0
    rejected: RejectedFiles = field(default_factory=RejectedFiles)
    studies: list[Study] = field(default_factory=list)  # touched by this ingest, first seen first

    @property
    def total(self) -> int:
        return self.imported + self.already_present + self.rejected.total


def study_ingest(
    *,
    actor: Any,
    worklist: Worklist,
    files: Iterable[tuple[str, FileSource]],
    source: str = WorklistEntry.Source.UPLOAD,
    request: HttpRequest | None = None,
    progress: Progress | None = None,
) -> IngestReport:
    """Store DICOM files (and the members of zip archives) and add their studies to `worklist`.

    `files` holds (display name, path or binary file object) pairs. `actor` must hold
    "upload_studies" on the worklist; None is the system (management commands). Idempotent by
    SOP Instance UID. Every rejected file is reported with its reason. `progress` is called
    with each file's name once it has been handled.

    A file may only add to a study already in `worklist` that `actor` may view there (for the
    system, any study in `worklist`), or create a new study; see the module's docstring.
    """
    return _run(
        actor=actor,
        worklist=worklist,
        files=files,
        source=source,
        request=request,
        progress=progress,
    )


def _run(
    *,
    actor: Any,
    worklist: Worklist,
    files: Iterable[tuple[str, FileSource | DicomRejected]],
    source: str,
    request: HttpRequest | None,
    progress: Progress | None,
) -> IngestReport:
    if actor is not None and not user_has_worklist_perm(actor, "upload_studies", worklist):
        raise PermissionDenied("Your role on this worklist does not allow uploading studies.")
    ingest = _Ingest(actor=actor, worklist=worklist, source=source)
    try:
        for name, item in files:
            for candidate_name, candidate in _expand(name, item):
                ingest.add(candidate_name, candidate)
                if progress is not None:
                    progress(candidate_name)
    finally:
        ingest.finish(request)
    return ingest.report


class IngestSession:
    """One ingest fed a file at a time, for a sender that delivers instances one by one and
    wants each one's outcome at once (a DICOM association, a STOW-RS request). The same
    checks as `study_ingest`; `finish` writes the audit events and queues the pre-rendering.
    """

    def __init__(
        self, *, actor: Any, worklist: Worklist, source: str, request: HttpRequest | None = None
    ) -> None:
        if actor is not None and not user_has_worklist_perm(actor, "upload_studies", worklist):
            raise PermissionDenied("Your role on this worklist does not allow uploading studies.")
        self._ingest = _Ingest(actor=actor, worklist=worklist, source=source)
        self._request = request
        self._finished = False

    def add(self, name: str, item: FileSource) -> str | None:
        """Store one file: None when it was stored or already present, else why not."""
        rejected = self._ingest.report.rejected
        before = rejected.total
        for candidate_name, candidate in _expand(name, item):
            self._ingest.add(candidate_name, candidate)
        if rejected.total > before and rejected.last is not None:
            return rejected.last[1]
        return None

    def finish(self) -> IngestReport:
        if not self._finished:
            self._finished = True
            self._ingest.finish(self._request)
        return self._ingest.report


def study_ingest_paths(
    *,
    actor: Any,
    worklist: Worklist,
    paths: Iterable[str | os.PathLike[str]],
    source: str = WorklistEntry.Source.IMPORT,
    request: HttpRequest | None = None,
    progress: Progress | None = None,
) -> IngestReport:
    """`study_ingest` for files, folders (walked recursively) and zip archives on disk."""
    return _run(
        actor=actor,
        worklist=worklist,
        files=_walk(paths),
        source=source,
        request=request,
        progress=progress,
    )


def ingest_file_count(paths: Iterable[str | os.PathLike[str]]) -> int:
    """How many files `study_ingest_paths` will handle (zip members counted one by one)."""
    count = 0
    for _, item in _walk(paths):
        if isinstance(item, DicomRejected):
            count += 1
            continue
        with open(item, "rb") as handle:
            if _is_zip(handle):
                if _archive_too_large(handle) is not None:
                    count += 1
                    continue
                try:
                    with zipfile.ZipFile(handle) as archive:
                        count += sum(
                            1 for info in archive.infolist() if not _skipped(info.filename)
                        )
                except (zipfile.BadZipFile, OSError):
                    count += 1
            else:
                count += 1
    return count


# ---------------------------------------------------------------------------- expanding input

Candidate = Path | IO[bytes] | DicomRejected


def _walk(paths: Iterable[str | os.PathLike[str]]) -> Iterator[tuple[str, Path | DicomRejected]]:
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for child in sorted(p for p in path.rglob("*") if p.is_file()):
                relative = child.relative_to(path.parent)
                if not any(_skipped(part) for part in relative.parts):
                    yield str(relative), child
        elif path.is_file():
            yield path.name, path
        else:
            yield str(raw), DicomRejected("No such file or folder.")


def _skipped(name: str) -> bool:
    """Directories, macOS resource forks, DICOMDIR indexes and other never-DICOM files."""
    parts = PurePosixPath(name.replace("\\", "/")).parts
    if name.endswith(("/", "\\")) or not parts:
        return True
    base = parts[-1].lower()
    return "__MACOSX" in parts or base.startswith("._") or base in _JUNK_NAMES


def _expand(name: str, item: FileSource | DicomRejected) -> Iterator[tuple[str, Candidate]]:
    """One input as the files to ingest: itself, or each member of a zip archive."""
    if isinstance(item, DicomRejected):
        yield name, item
        return
    if isinstance(item, str | os.PathLike):
        path = Path(item)
        try:
            handle = open(path, "rb")
        except OSError:
            yield name, DicomRejected("The file could not be read.")
            return
        with handle:
            if _is_zip(handle):
                yield from _archive_members(name, handle)
            else:
                yield name, path
        return
    if _is_zip(item):
        yield from _archive_members(name, item)
    else:
        yield name, item


def _is_zip(handle: IO[bytes]) -> bool:
    # A DICOM file may start with anything in its 128-byte preamble: trust "DICM" first.
    handle.seek(0)
    head = handle.read(132)
    handle.seek(0)
    return head[:4] in (b"PK\x03\x04", b"PK\x05\x06") and head[128:132] != b"DICM"


def _archive_too_large(handle: IO[bytes]) -> DicomRejected | None:
    """Refuse an archive with too many members before zipfile reads its central directory
    (it makes an object per member): the count and size are in the end record."""
    directory = _central_directory(handle)
    if directory is None:
        return None  # not found: zipfile reports the archive as damaged
    members, size = directory
    limit = settings.DICOM_MAX_ARCHIVE_MEMBERS
    # A central directory entry is 46 bytes plus its name (and extras): allow 1 KB each.
    if members > limit or size > limit * 1024:
        return DicomRejected(
            f"The archive holds {members:,} files; one archive may hold at most {limit:,}. "
            "Upload it in parts."
        )
    return None


def _central_directory(handle: IO[bytes]) -> tuple[int, int] | None:
    """(members, bytes) of a zip archive's central directory, from its end record (PKWARE
    APPNOTE 4.3.16, and 4.3.14 for zip64). zipfile offers no public way to read these
    without first building every member's ZipInfo."""
    end = handle.seek(0, os.SEEK_END)
    tail_start = max(0, end - (22 + 65535))  # the record, then a comment of up to 64 KiB
    handle.seek(tail_start)
    tail = handle.read()
    handle.seek(0)
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or at + 22 > len(tail):
        return None
    members, size = struct.unpack_from("<HI", tail, at + 10)
    if members != 0xFFFF and size != 0xFFFFFFFF:
        return members, size
    locator = at - 20  # zip64: a locator just before the end record points at its own record
    if locator < 0 or tail[locator : locator + 4] != b"PK\x06\x07":
        return members, size  # exactly 65,535 members, or 4 GiB of directory, without zip64
    (record,) = struct.unpack_from("<Q", tail, locator + 8)
    handle.seek(record)
    head = handle.read(56)
    handle.seek(0)
    if len(head) < 56 or head[:4] != b"PK\x06\x06":
        return None
    members, size = struct.unpack_from("<QQ", head, 32)
    return members, size


def _archive_members(name: str, handle: IO[bytes]) -> Iterator[tuple[str, Candidate]]:
    """Each member of a zip archive, extracted to a temporary file within the size limits."""
    member_limit = settings.DICOM_MAX_FILE_SIZE
    remaining = settings.DICOM_MAX_ARCHIVE_SIZE
    too_large = _archive_too_large(handle)
    if too_large is not None:
        yield name, too_large
        return
    try:
        archive = zipfile.ZipFile(handle)
    except (zipfile.BadZipFile, OSError, ValueError):
        yield name, DicomRejected("The zip archive is damaged and could not be opened.")
        return
    with archive:
        for info in archive.infolist():
            if _skipped(info.filename):
                continue
            member_name = f"{name}/{info.filename}"
            if not _safe_member_name(info.filename):
                yield member_name, DicomRejected("The archive names this file with an unsafe path.")
                continue
            if info.file_size > member_limit:
                yield (
                    member_name,
                    DicomRejected(
                        f"The file is too large ({human_size(info.file_size)}; "
                        f"the limit is {human_size(member_limit)})."
                    ),
                )
                continue
            if remaining <= 0:
                yield (
                    member_name,
                    DicomRejected(
                        "The archive holds more data than one upload may "
                        f"({human_size(settings.DICOM_MAX_ARCHIVE_SIZE)})."
                    ),
                )
                continue
            ratio_limit = max(
                settings.DICOM_MAX_ARCHIVE_RATIO * info.compress_size, _RATIO_EXEMPT_BYTES
            )
            if info.file_size > ratio_limit:
                yield member_name, _too_compressed()
                continue
            extracted = _extract(archive, info, min(member_limit, remaining), ratio_limit)
            if isinstance(extracted, DicomRejected):
                yield member_name, extracted
                continue
            with extracted:
                remaining -= extracted.seek(0, os.SEEK_END)
                if _is_zip(extracted):
                    yield (
                        member_name,
                        DicomRejected(
                            "An archive inside an archive is not opened; upload it on its own."
                        ),
                    )
                else:
                    yield member_name, extracted


def _safe_member_name(name: str) -> bool:
    normal = name.replace("\\", "/")
    if normal.startswith("/") or (len(normal) > 1 and normal[1] == ":"):
        return False
    return ".." not in PurePosixPath(normal).parts


def _too_compressed() -> DicomRejected:
    return DicomRejected(
        "The file unpacks to more than "
        f"{settings.DICOM_MAX_ARCHIVE_RATIO} times its packed size, the limit."
    )


def _extract(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int, ratio_limit: int
) -> IO[bytes] | DicomRejected:
    """Stream one member out, never past `limit` bytes (nor `ratio_limit`, the compression
    ratio bound) whatever its header claims."""
    spool = tempfile.SpooledTemporaryFile(max_size=8 * _COPY_CHUNK)
    copied = 0
    try:
        with archive.open(info) as member:
            while chunk := member.read(_COPY_CHUNK):
                copied += len(chunk)
                if copied > limit:
                    spool.close()
                    return DicomRejected(
                        f"The file unpacks to more than {human_size(limit)}, the limit."
                    )
                if copied > ratio_limit:
                    spool.close()
                    return _too_compressed()
                spool.write(chunk)
    except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, RuntimeError, ValueError):
        spool.close()
        return DicomRejected(
            "The file could not be unpacked from the archive (damaged or encrypted)."
        )
    spool.seek(0)
    return spool  # type: ignore[return-value]


# ---------------------------------------------------------------------------- storing


class _StudyNotHere(DicomRejected):
    """The file's UIDs belong to a study that this ingest may not add to (`_Ingest.may_extend`)."""

    def __init__(self, study_id: int) -> None:
        super().__init__(NOT_HERE)
        self.study_id = study_id


class _Ingest:
    def __init__(self, *, actor: Any, worklist: Worklist, source: str) -> None:
        self.actor = actor
        self.worklist = worklist
        self.source = source
        self.report = IngestReport()
        self.per_study: dict[int, dict[str, int]] = {}
        # Studies in `worklist` that this ingest may add to: created by it, or seen there.
        self.in_worklist: set[int] = set()
        # An uploader who may not view the worklist's studies may only create new ones.
        self.may_view = actor is None or user_has_worklist_perm(actor, "view_studies", worklist)
        self.refused: dict[int, int] = {}  # study id: files refused by `may_extend`

    def may_extend(self, study_id: int) -> bool:
        """Whether a file may add to (or be found already present in) this existing study: only
        when the uploader can already see it in the target worklist, or this ingest created it.
        """
        if study_id in self.in_worklist:
            return True
        if not self.may_view:
            return False
        if WorklistEntry.objects.filter(worklist=self.worklist, study_id=study_id).exists():
            self.in_worklist.add(study_id)
            return True
        return False

    def add(self, name: str, candidate: Candidate) -> None:
        if isinstance(candidate, DicomRejected):
            self.report.rejected.append((name, candidate.reason))
            return
        if isinstance(candidate, Path):
            try:
                with open(candidate, "rb") as handle:
                    self._add_file(name, handle, handle)
            except OSError:
                self.report.rejected.append((name, "The file could not be read."))
            return
        self._add_file(name, candidate, candidate)

    def _add_file(self, name: str, handle: IO[bytes], content: Any) -> None:
        try:
            parsed = parse_dicom(handle)
        except DicomRejected as rejected:
            self.report.rejected.append((name, rejected.reason))
            return
        study_id = (
            Instance.objects.filter(sop_instance_uid=parsed.sop_instance_uid)
            .values_list("series__study_id", flat=True)
            .first()
        )
        if study_id is None:
            try:
                study_id = self._store(parsed, content)
            except _StudyNotHere as refused:
                self._refuse(name, refused.study_id)
                return
            except DicomRejected as rejected:
                self.report.rejected.append((name, rejected.reason))
                return
            if study_id is None:  # stored meanwhile by a concurrent upload of the same file
                study_id = (
                    Instance.objects.filter(sop_instance_uid=parsed.sop_instance_uid)
                    .values_list("series__study_id", flat=True)
                    .first()
                )
                if study_id is None:
                    self.report.rejected.append((name, "The file could not be saved."))
                    return
            else:
                self._count(study_id, "imported")
                return
        # Already stored. Only "already present" where the uploader sees that study here; it
        # is never added to this worklist, which would hand out a study through an upload.
        if not self.may_extend(study_id):
            self._refuse(name, study_id)
            return
        self._count(study_id, "already_present")

    def _refuse(self, name: str, study_id: int) -> None:
        self.report.rejected.append((name, NOT_HERE))
        self.refused[study_id] = self.refused.get(study_id, 0) + 1

    def _store(self, parsed: ParsedInstance, content: Any) -> int | None:
        """Write the file and its rows in one transaction; None when it turned out present."""
        stored_name = ""
        try:
            with transaction.atomic():
                study, created = _study_locked(parsed)
                # Checked under the study's row lock, and before anything is written: a
                # concurrent upload that created this study has committed its worklist entry.
                if not created and not self.may_extend(study.pk):
                    raise _StudyNotHere(study.pk)
                series = self._series_for(parsed, study)
                instance = Instance(series=series, **_fields(Instance, parsed))
                instance.full_clean(exclude=["file", "series"], validate_unique=False)
                if not isinstance(content, File):
                    content = File(content)
                # The storage name comes from instance_upload_to: nothing from the upload.
                instance.file.save("instance.dcm", content, save=False)
                stored_name = instance.file.name or ""
                instance.save()
                _recount(study, series)
                self._ensure_in_worklist(study.pk)
        except IntegrityError:
            _delete_stored(stored_name)
            return None
        except DicomRejected:
            _delete_stored(stored_name)
            raise
        except Exception as error:
            _delete_stored(stored_name)
            logger.exception("Storing a DICOM instance failed")  # no names: they may hold PHI
            raise DicomRejected("The file could not be saved because of a server error.") from error
        self.in_worklist.add(study.pk)
        return study.pk

    def _series_for(self, parsed: ParsedInstance, study: Study) -> Series:
        series = Series.objects.filter(series_instance_uid=parsed.series_instance_uid).first()
        if series is None:
            series = Series(study=study, **_fields(Series, parsed))
            series.full_clean(exclude=["study"], validate_unique=False, validate_constraints=False)
            series.save()  # the study lock keeps a concurrent upload of this series out
        elif series.study_id != study.pk:
            if not self.may_extend(series.study_id):
                raise _StudyNotHere(series.study_id)
            raise DicomRejected("Its series belongs to a different study (conflicting UIDs).")
        return series

    def _ensure_in_worklist(self, study_id: int) -> None:
        if study_id in self.in_worklist:
            return
        WorklistEntry.objects.get_or_create(
            worklist=self.worklist,
            study_id=study_id,
            defaults={"added_by": self.actor, "source": self.source},
        )

    def _record_refusals(self, request: HttpRequest | None) -> None:
        """A "denied" event per study that files were refused from: the trail shows who tried
        to reach which study (the uploader's report does not)."""
        if not self.refused:
            return
        uids = dict(
            Study.objects.filter(pk__in=self.refused).values_list("pk", "study_instance_uid")
        )
        with transaction.atomic():
            for study_id, count in self.refused.items():
                record_event(
                    action=AuditEvent.Action.STUDY_UPLOADED,
                    outcome=AuditEvent.Outcome.DENIED,
                    actor=self.actor,
                    request=request,
                    study_instance_uid=uids.get(study_id, ""),
                    details={
                        "worklist": str(self.worklist.public_id),
                        "source": self.source,
                        "refused": count,
                    },
                )
        logger.warning(
            "DICOM ingest refused %d file(s) that would reach %d studies not open in worklist %s",
            sum(self.refused.values()),
            len(self.refused),
            self.worklist.public_id,
        )

    def _count(self, study_id: int, outcome: str) -> None:
        counts = self.per_study.setdefault(study_id, {"imported": 0, "already_present": 0})
        counts[outcome] += 1
        if outcome == "imported":
            self.report.imported += 1
        else:
            self.report.already_present += 1

    def finish(self, request: HttpRequest | None) -> None:
        """One audit event per study touched, and the report's list of studies."""
        self._record_refusals(request)
        studies = Study.objects.in_bulk(list(self.per_study))
        self.report.studies = [studies[pk] for pk in self.per_study if pk in studies]
        if not self.report.studies:
            return
        with transaction.atomic():
            for study in self.report.studies:
                counts = self.per_study[study.pk]
                record_event(
                    action=AuditEvent.Action.STUDY_UPLOADED,
                    actor=self.actor,
                    request=request,
                    study_instance_uid=study.study_instance_uid,
                    details={
                        "worklist": str(self.worklist.public_id),
                        "source": self.source,
                        "imported": counts["imported"],
                        "already_present": counts["already_present"],
                    },
                )
        # Pre-render the default view of new images once they are committed, so that a
        # recipient's first image is already cached (a Celery worker, or inline when eager).
        for study in self.report.studies:
            if self.per_study[study.pk]["imported"]:
                transaction.on_commit(partial(prerender_study.delay, study.pk))
        logger.info(
            "DICOM ingest: %d imported, %d already present, %d rejected, %d studies",
            self.report.imported,
            self.report.already_present,
            self.report.rejected.total,
            len(self.report.studies),
        )


def _fields(model: type[Any], parsed: ParsedInstance) -> dict[str, Any]:
    names = {f.name for f in model._meta.concrete_fields} - {"id", "public_id", "study", "series"}
    return {name: getattr(parsed, name) for name in names if hasattr(parsed, name)}


def _study_locked(parsed: ParsedInstance) -> tuple[Study, bool]:
    """The study of this file, created on first sight, locked for the rest of the transaction;
    and whether this call created it."""
    study = (
        Study.objects.select_for_update()
        .filter(study_instance_uid=parsed.study_instance_uid)
        .first()
    )
    if study is not None:
        return study, False
    study = Study(**_fields(Study, parsed))
    study.full_clean(validate_unique=False, validate_constraints=False)
    try:
        with transaction.atomic():
            study.save()
    except IntegrityError:  # created meanwhile by a concurrent upload
        study = Study.objects.select_for_update().get(study_instance_uid=parsed.study_instance_uid)
        return study, False
    return study, True


def _count_of(queryset: Any, group: str) -> Coalesce:
    counted = queryset.order_by().values(group).annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(counted), Value(0))


def _recount(study: Study, series: Series) -> None:
    """Counters from the rows themselves, in single UPDATE statements under the study lock."""
    Series.objects.filter(pk=series.pk).update(
        number_of_instances=_count_of(Instance.objects.filter(series=OuterRef("pk")), "series")
    )
    modalities = sorted(
        set(
            Series.objects.filter(study=study)
            .exclude(modality="")
            .values_list("modality", flat=True)
        )
    )
    Study.objects.filter(pk=study.pk).update(
        number_of_series=_count_of(Series.objects.filter(study=OuterRef("pk")), "study"),
        number_of_instances=_count_of(
            Instance.objects.filter(series__study=OuterRef("pk")), "series__study"
        ),
        modalities_in_study=" ".join(modalities)[:100],
    )


def _delete_stored(name: str) -> None:
    if not name:
        return
    try:
        default_storage.delete(name)
    except Exception:
        logger.exception("Could not delete a stored DICOM file after a failed save")
