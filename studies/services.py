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
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import IO, Any

from django.core.exceptions import PermissionDenied
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import Count, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce
from django.http import HttpRequest

from audit.models import AuditEvent
from audit.services import record_event
from worklists.access import has_worklist_perm
from worklists.models import Worklist

from .archives import Member, archive_member_count, archive_members, is_zip, skipped_name
from .dicom import DicomRejected, ParsedInstance, parse_dicom
from .models import Instance, Series, Study, WorklistEntry
from .registry import after_ingest

logger = logging.getLogger(__name__)

FileSource = str | os.PathLike[str] | IO[bytes]
Progress = Callable[[str], None]

# Rejected files listed one by one in a report; the rest are counted (an archive of a million
# junk members must not make a million-row page).
REPORT_MAX_REJECTED = 200


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
    created: set[int] = field(default_factory=set)  # ids of the studies this ingest created
    stored_files: list[str] = field(default_factory=list)  # storage names written
    # study id: {"imported": n, "already_present": n}
    per_study: dict[int, dict[str, int]] = field(default_factory=dict)

    @property
    def accepted(self) -> int:
        return self.imported + self.already_present

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
    scope: IngestScope | None = None,
) -> IngestReport:
    if actor is not None and not has_worklist_perm(actor, "upload_studies", worklist):
        raise PermissionDenied("Your role on this worklist does not allow uploading studies.")
    ingest = _Ingest(actor=actor, worklist=worklist, source=source, scope=scope)
    try:
        for name, item in files:
            for candidate_name, candidate in _expand(name, item):
                ingest.add(candidate_name, candidate)
                if progress is not None:
                    progress(candidate_name)
    finally:
        ingest.finish(request)
    return ingest.report


@dataclass(frozen=True)
class IngestScope:
    """An ingest on behalf of something that is not a member of the worklist (an upload link):
    it may create studies in the worklist and add only to the studies in `may_extend` (those it
    created before), never to any other study, even one in the worklist. `note` is written on
    the worklist entries it creates; `details` go into its audit events."""

    may_extend: frozenset[int]
    note: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    # Filled as the ingest stores files, so that a caller whose transaction rolls back can
    # delete them even when the ingest itself raised.
    stored_files: list[str] = field(default_factory=list)


def study_ingest_scoped(
    *,
    worklist: Worklist,
    files: Iterable[tuple[str, FileSource]],
    scope: IngestScope,
    source: str = WorklistEntry.Source.GUEST_UPLOAD,
    request: HttpRequest | None = None,
) -> IngestReport:
    """`study_ingest` with no acting user, limited to `scope` (see `IngestScope`). The caller
    has authorised the upload (an upload link's gate) and decides the transaction: run inside
    one, the whole ingest commits or rolls back at once (`discard_stored` then removes the
    files it wrote)."""
    return _run(
        actor=None,
        worklist=worklist,
        files=files,
        source=source,
        request=request,
        progress=None,
        scope=scope,
    )


def discard_stored(names: Iterable[str]) -> None:
    """Delete files an ingest stored whose rows were rolled back."""
    for name in names:
        _delete_stored(name)


class IngestSession:
    """One ingest fed a file at a time, for a sender that delivers instances one by one and
    wants each one's outcome at once (a DICOM association, a STOW-RS request). The same
    checks as `study_ingest`; `finish` writes the audit events and queues the pre-rendering.
    """

    def __init__(
        self, *, actor: Any, worklist: Worklist, source: str, request: HttpRequest | None = None
    ) -> None:
        if actor is not None and not has_worklist_perm(actor, "upload_studies", worklist):
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
            count += archive_member_count(handle) if is_zip(handle) else 1
    return count


# ---------------------------------------------------------------------------- expanding input

Candidate = Path | Member


def _walk(paths: Iterable[str | os.PathLike[str]]) -> Iterator[tuple[str, Path | DicomRejected]]:
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for child in sorted(p for p in path.rglob("*") if p.is_file()):
                relative = child.relative_to(path.parent)
                if not any(skipped_name(part) for part in relative.parts):
                    yield str(relative), child
        elif path.is_file():
            yield path.name, path
        else:
            yield str(raw), DicomRejected("No such file or folder.")


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
            if is_zip(handle):
                yield from archive_members(name, handle)
            else:
                yield name, path
        return
    if is_zip(item):
        yield from archive_members(name, item)
    else:
        yield name, item


# ---------------------------------------------------------------------------- storing


class _StudyNotHere(DicomRejected):
    """The file's UIDs belong to a study that this ingest may not add to (`_Ingest.may_extend`)."""

    def __init__(self, study_id: int) -> None:
        super().__init__(NOT_HERE)
        self.study_id = study_id


class _Ingest:
    def __init__(
        self, *, actor: Any, worklist: Worklist, source: str, scope: IngestScope | None = None
    ) -> None:
        self.actor = actor
        self.worklist = worklist
        self.source = source
        self.scope = scope
        self.report = IngestReport()
        self.per_study: dict[int, dict[str, int]] = {}
        # Studies in `worklist` that this ingest may add to: created by it, or seen there.
        self.in_worklist: set[int] = set()
        # An uploader who may not view the worklist's studies may only create new ones (and a
        # scoped ingest may add only to the studies its scope names).
        self.may_view = scope is None and (
            actor is None or has_worklist_perm(actor, "view_studies", worklist)
        )
        if scope is not None:
            self.report.stored_files = scope.stored_files
            self.in_worklist.update(
                WorklistEntry.objects.filter(
                    worklist=worklist, study_id__in=scope.may_extend
                ).values_list("study_id", flat=True)
            )
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
                if created:
                    self.report.created.add(study.pk)
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
        self.report.stored_files.append(stored_name)
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
            defaults={
                "added_by": self.actor,
                "source": self.source,
                "note": self.scope.note if self.scope else "",
            },
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
                        **(self.scope.details if self.scope else {}),
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
        self.report.per_study = self.per_study
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
                        **(self.scope.details if self.scope else {}),
                    },
                )
        # Once new images are committed, the apps that registered for it (dicomweb pre-renders
        # the default view, so that a recipient's first image is already cached).
        for study in self.report.studies:
            if self.per_study[study.pk]["imported"]:
                for callback in after_ingest():
                    transaction.on_commit(partial(callback, study.pk))
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
