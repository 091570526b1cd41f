"""The ingest service: files, folders and zips; idempotency, atomicity, counts, audit."""

import io
import json
import zipfile

import pydicom
import pytest
from django.core.exceptions import PermissionDenied
from django.db import DatabaseError

from audit.models import AuditEvent
from demo.synthetic import write_study
from studies import services
from studies.models import Instance, Series, Study, WorklistEntry
from studies.services import ingest_file_count, study_ingest, study_ingest_paths
from tests.factories import UserFactory, WorklistFactory, grant
from tests.studies.ingest_helpers import PATIENT, rewrite, small_study, stored_files, zip_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture
def uploader(worklist):
    user = UserFactory(username="uploader", organisation=worklist.organisation)
    grant(user, worklist, "view_studies", "upload_studies")
    return user


def ingest(worklist, paths, actor=None, **options):
    return study_ingest_paths(actor=actor, worklist=worklist, paths=paths, **options)


def test_imports_a_folder_with_its_rows_counts_and_files(tmp_path, settings, worklist, uploader):
    files = small_study(tmp_path / "in")
    report = ingest(worklist, [tmp_path / "in"], actor=uploader)

    assert (report.imported, report.already_present, report.rejected) == (6, 0, [])
    study = Study.objects.get()
    assert report.studies == [study]
    assert study.patient_name == "Rivers^Ada"
    assert study.patient_birth_date == PATIENT.birth_date
    assert (study.number_of_series, study.number_of_instances, study.modalities_in_study) == (
        2,
        6,
        "CT",
    )
    assert sorted(Series.objects.values_list("number_of_instances", flat=True)) == [3, 3]
    stored = stored_files(settings.MEDIA_ROOT)
    assert len(stored) == 6
    assert {p.read_bytes() for p in stored} == {p.read_bytes() for p in files}
    for instance in Instance.objects.all():
        # Server-generated names: nothing from the upload or from DICOM attributes.
        assert instance.file.name.startswith("dicom/")
        assert (
            "IM000" not in instance.file.name
            and instance.sop_instance_uid not in instance.file.name
        )
        assert instance.file_size == instance.file.size
    entry = WorklistEntry.objects.get()
    assert (entry.worklist, entry.study, entry.added_by, entry.source) == (
        worklist,
        study,
        uploader,
        WorklistEntry.Source.IMPORT,
    )


def test_second_ingest_finds_everything_present_and_stores_nothing(tmp_path, settings, worklist):
    small_study(tmp_path / "in")
    ingest(worklist, [tmp_path / "in"])
    report = ingest(worklist, [tmp_path / "in"])

    assert (report.imported, report.already_present, len(report.studies)) == (0, 6, 1)
    assert len(stored_files(settings.MEDIA_ROOT)) == 6
    assert Instance.objects.count() == 6 and WorklistEntry.objects.count() == 1
    assert Study.objects.get().number_of_instances == 6


def test_a_present_study_is_not_added_to_another_worklist(tmp_path, worklist):
    """Putting a study into another worklist is sharing, not an upload (even for the system)."""
    small_study(tmp_path / "in")
    ingest(worklist, [tmp_path / "in"])
    other = WorklistFactory(organisation=worklist.organisation, name="ED")
    report = ingest(other, [tmp_path / "in"], source=WorklistEntry.Source.UPLOAD)

    assert (report.imported, report.already_present, report.studies) == (0, 0, [])
    assert {reason for _, reason in report.rejected} == {services.NOT_HERE}
    assert len(report.rejected) == 6
    assert set(WorklistEntry.objects.values_list("worklist__name", "source")) == {
        ("Radiology", "import"),
    }


def test_same_file_twice_in_one_ingest(tmp_path, worklist):
    files = small_study(tmp_path / "in", series_count=1, slices=1)
    report = study_ingest(
        actor=None, worklist=worklist, files=[("a.dcm", files[0]), ("b.dcm", files[0])]
    )
    assert (report.imported, report.already_present) == (1, 1)


def test_bad_files_are_reported_while_good_ones_go_in(tmp_path, settings, worklist):
    files = small_study(tmp_path / "in")
    (tmp_path / "in" / "notes.txt").write_text("not an image\n" * 20)
    good = files[0].read_bytes()
    (tmp_path / "in" / "cut.dcm").write_bytes(good[:-50])
    rewrite(files[0], tmp_path / "in" / "nouid.dcm", SOPInstanceUID=None)

    report = ingest(worklist, [tmp_path / "in"])

    assert report.imported == 6
    assert sorted(report.rejected) == [
        ("in/cut.dcm", "The file is truncated (it ends before its data does)."),
        ("in/notes.txt", "This is not a DICOM file."),
        ("in/nouid.dcm", "The file has no SOP Instance UID."),
    ]
    assert len(stored_files(settings.MEDIA_ROOT)) == 6


def test_counts_follow_a_new_series_and_modality_added_later(tmp_path, worklist):
    ct = small_study(tmp_path / "ct")
    ingest(worklist, [tmp_path / "ct"])
    study_uid = Study.objects.get().study_instance_uid
    mr = write_study(tmp_path / "mr", modality="MR", kind="brain", slices=2, size=32, uid_key="mr")
    moved = [
        rewrite(path, tmp_path / f"mr{n}.dcm", StudyInstanceUID=study_uid)
        for n, path in enumerate(mr)
    ]

    report = ingest(worklist, moved)

    study = Study.objects.get()
    assert report.imported == 2
    assert (study.number_of_series, study.number_of_instances, study.modalities_in_study) == (
        3,
        len(ct) + 2,
        "CT MR",
    )


def test_a_series_claimed_by_another_study_is_rejected(tmp_path, worklist):
    files = small_study(tmp_path / "in", series_count=1, slices=1)
    ingest(worklist, files)
    other = rewrite(
        files[0], tmp_path / "other.dcm", StudyInstanceUID="1.2.3.4", SOPInstanceUID="1.2.3.5"
    )
    report = ingest(worklist, [other])
    assert report.rejected == [
        ("other.dcm", "Its series belongs to a different study (conflicting UIDs).")
    ]
    assert not Study.objects.filter(study_instance_uid="1.2.3.4").exists()


@pytest.mark.parametrize("stage", ["instance", "counters"])
def test_a_file_failing_in_the_database_leaves_nothing_behind(
    tmp_path, settings, worklist, monkeypatch, stage
):
    small_study(tmp_path / "good")
    bad = small_study(tmp_path / "bad", key="bad", series_count=1, slices=1)[0]
    bad_uid = pydicom.dcmread(bad).SOPInstanceUID

    if stage == "instance":
        original = Instance.save

        def failing_save(self, *args, **kwargs):
            if self.sop_instance_uid == bad_uid:
                raise DatabaseError("disk full")
            return original(self, *args, **kwargs)

        monkeypatch.setattr(Instance, "save", failing_save)
    else:
        original = services._recount

        def failing_recount(study, series):
            if Instance.objects.filter(series=series, sop_instance_uid=bad_uid).exists():
                raise DatabaseError("deadlock")
            return original(study, series)

        monkeypatch.setattr(services, "_recount", failing_recount)

    report = ingest(worklist, [tmp_path / "good", bad])

    assert report.imported == 6
    assert report.rejected == [(bad.name, "The file could not be saved because of a server error.")]
    # Nothing of the failed file: no study, series or instance rows and no stored file.
    assert Study.objects.count() == 1 and Series.objects.count() == 2
    assert not Instance.objects.filter(sop_instance_uid=bad_uid).exists()
    assert len(stored_files(settings.MEDIA_ROOT)) == Instance.objects.count() == 6
    assert WorklistEntry.objects.count() == 1


def test_needs_upload_permission_on_the_worklist(tmp_path, settings, worklist, read_only):
    small_study(tmp_path / "in")
    with pytest.raises(PermissionDenied):
        ingest(worklist, [tmp_path / "in"], actor=read_only)
    assert not Study.objects.exists() and not stored_files(settings.MEDIA_ROOT)


def test_one_audit_event_per_study_without_patient_names(tmp_path, worklist, uploader):
    small_study(tmp_path / "a", key="a")
    small_study(tmp_path / "b", key="b")
    ingest(worklist, [tmp_path / "a", tmp_path / "b"], actor=uploader)
    ingest(worklist, [tmp_path / "a"], actor=uploader)

    events = list(AuditEvent.objects.filter(action=AuditEvent.Action.STUDY_UPLOADED).order_by("id"))
    assert len(events) == 3
    assert {e.study_instance_uid for e in events} == set(
        Study.objects.values_list("study_instance_uid", flat=True)
    )
    assert [(e.details["imported"], e.details["already_present"]) for e in events] == [
        (6, 0),
        (6, 0),
        (0, 6),
    ]
    assert all(
        e.actor == uploader and e.details["worklist"] == str(worklist.public_id) for e in events
    )
    assert "Rivers" not in json.dumps([e.details for e in events])


def test_zip_archive_members_with_traversal_junk_and_size_limits(tmp_path, settings, worklist):
    files = small_study(tmp_path / "in", series_count=1)
    settings.DICOM_MAX_FILE_SIZE = 200_000
    archive = tmp_path / "upload.zip"
    archive.write_bytes(
        zip_bytes(
            {
                "study/1.dcm": files[0].read_bytes(),
                "study/2.dcm": files[1].read_bytes(),
                "../../etc/evil.dcm": files[2].read_bytes(),
                "/abs.dcm": files[2].read_bytes(),
                "__MACOSX/study/._1.dcm": b"resource fork",
                "study/.DS_Store": b"finder",
                "study/DICOMDIR": b"index",
                "bomb.dcm": bytes(5_000_000),  # compresses to a few kB
                "inner.zip": zip_bytes({"x.dcm": files[2].read_bytes()}),
            }
        )
    )
    assert archive.stat().st_size < 100_000

    report = ingest(worklist, [archive])

    assert report.imported == 2
    assert dict(report.rejected) == {
        "upload.zip/../../etc/evil.dcm": "The archive names this file with an unsafe path.",
        "upload.zip//abs.dcm": "The archive names this file with an unsafe path.",
        "upload.zip/bomb.dcm": "The file is too large (4.8 MB; the limit is 195.3 KB).",
        "upload.zip/inner.zip": "An archive inside an archive is not opened; upload it on its own.",
    }
    assert len(stored_files(settings.MEDIA_ROOT)) == 2
    assert not (tmp_path.parent / "etc").exists()
    assert ingest_file_count([archive]) == 6


def test_zip_member_lying_about_its_size_is_not_unpacked(tmp_path, worklist):
    data = zip_bytes({"big.dcm": bytes(3_000_000)})
    # Make the headers claim 100 bytes: unpacking must stop there and fail the CRC check.
    lie = (100).to_bytes(4, "little")
    local = data.index(b"PK\x03\x04")
    central = data.index(b"PK\x01\x02")
    data = data[: local + 22] + lie + data[local + 26 : central + 24] + lie + data[central + 28 :]
    (tmp_path / "lie.zip").write_bytes(data)

    report = ingest(worklist, [tmp_path / "lie.zip"])
    assert report.rejected == [
        (
            "lie.zip/big.dcm",
            "The file could not be unpacked from the archive (damaged or encrypted).",
        )
    ]


def test_archive_total_limit(tmp_path, settings, worklist):
    files = small_study(tmp_path / "in", series_count=1)
    settings.DICOM_MAX_ARCHIVE_SIZE = files[0].stat().st_size + 10
    members = {f"{n}.dcm": path.read_bytes() for n, path in enumerate(files)}
    (tmp_path / "a.zip").write_bytes(zip_bytes(members))

    report = ingest(worklist, [tmp_path / "a.zip"])
    assert report.imported == 1
    assert len(report.rejected) == 2
    assert all("limit" in reason or "more data" in reason for _, reason in report.rejected)


def test_damaged_zip(tmp_path, worklist):
    data = zip_bytes({"a.dcm": b"x" * 1000})
    (tmp_path / "d.zip").write_bytes(data[:40])
    report = ingest(worklist, [tmp_path / "d.zip"])
    assert report.rejected == [("d.zip", "The zip archive is damaged and could not be opened.")]


def test_file_objects_and_progress(tmp_path, worklist):
    files = small_study(tmp_path / "in", series_count=1)
    archive = io.BytesIO(zip_bytes({p.name: p.read_bytes() for p in files[1:]}))
    seen = []
    report = study_ingest(
        actor=None,
        worklist=worklist,
        files=[("one.dcm", io.BytesIO(files[0].read_bytes())), ("rest.zip", archive)],
        progress=seen.append,
    )
    assert report.imported == 3
    assert seen == ["one.dcm", "rest.zip/IM0002.dcm", "rest.zip/IM0003.dcm"]
    assert zipfile.is_zipfile(archive)


def test_missing_path_is_reported(tmp_path, worklist):
    report = ingest(worklist, [tmp_path / "nowhere"])
    assert report.rejected == [(str(tmp_path / "nowhere"), "No such file or folder.")]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_ingests_of_one_study_keep_rows_files_and_counts_right(
    tmp_path, settings, worklist, monkeypatch
):
    import threading
    import time

    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: concurrent writers and row locks")
    files = small_study(tmp_path / "in", series_count=2, slices=5)
    original = services._recount
    spans = []

    def slow_recount(study, series):
        # Hold the transaction open after counting: without the study lock the two writers
        # would overlap here and one would count from a stale snapshot.
        start = time.monotonic()
        original(study, series)
        time.sleep(0.05)
        spans.append((start, time.monotonic()))

    monkeypatch.setattr(services, "_recount", slow_recount)
    barrier = threading.Barrier(2)
    reports, errors = [], []

    def run(paths):
        try:
            barrier.wait()
            reports.append(study_ingest_paths(actor=None, worklist=worklist, paths=paths))
        except Exception as error:  # surfaced below
            errors.append(error)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=run, args=(files,)),
        threading.Thread(target=run, args=(list(reversed(files)),)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not errors
    spans.sort()
    assert all(
        end <= next_start for (_, end), (next_start, _) in zip(spans, spans[1:], strict=False)
    )
    assert sum(r.imported for r in reports) == 10
    assert sum(r.already_present for r in reports) == 10
    study = Study.objects.get()
    assert (study.number_of_series, study.number_of_instances) == (2, 10)
    assert sorted(Series.objects.values_list("number_of_instances", flat=True)) == [5, 5]
    assert WorklistEntry.objects.count() == 1
    assert len(stored_files(settings.MEDIA_ROOT)) == Instance.objects.count() == 10
