"""Zip archives within bounds: members counted before the archive is read, each member's
compression ratio bounded, and a report that stays small however many files are rejected."""

import io
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from studies.models import Instance
from studies.services import ingest_file_count, study_ingest_paths
from tests.bounded import GiB, bounded
from tests.studies.ingest_helpers import small_study, zip_bytes

pytestmark = pytest.mark.django_db


def ingest(worklist, paths):
    return study_ingest_paths(actor=None, worklist=worklist, paths=paths)


def test_an_archive_with_too_many_members_is_refused_before_any_is_read(
    tmp_path, settings, worklist
):
    settings.DICOM_MAX_ARCHIVE_MEMBERS = 5
    files = small_study(tmp_path / "in")  # six files, all valid
    archive = tmp_path / "many.zip"
    archive.write_bytes(zip_bytes({f"{n}.dcm": p.read_bytes() for n, p in enumerate(files)}))

    report = ingest(worklist, [archive])
    assert report.rejected == [
        (
            "many.zip",
            "The archive holds 6 files; one archive may hold at most 5. Upload it in parts.",
        )
    ]
    assert (report.imported, Instance.objects.count()) == (0, 0)
    assert ingest_file_count([archive]) == 1  # the progress bar counts it as one refusal


def test_a_zip64_archive_is_counted_from_its_zip64_end_record(tmp_path, settings, worklist):
    """65,536 empty members (past the 16-bit count, so a zip64 end record): refused at once,
    not read one by one."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for n in range(65_536):
            archive.writestr(f"{n}", b"")
    data = buffer.getvalue()
    assert b"PK\x06\x06" in data[-200:]  # Python wrote the zip64 end record
    (tmp_path / "huge.zip").write_bytes(data)

    # On code without the count check this reads 65,536 members, a minute or more.
    report = bounded(lambda: ingest(worklist, [tmp_path / "huge.zip"]), timeout=30).value
    assert [reason for _, reason in report.rejected] == [
        "The archive holds 65,536 files; one archive may hold at most 10,000. Upload it in parts."
    ]


def test_a_member_unpacking_past_the_ratio_limit_is_refused(tmp_path, settings, worklist):
    settings.DICOM_MAX_ARCHIVE_RATIO = 200
    files = small_study(tmp_path / "in", series_count=1)
    members = {"zeros.dcm": bytes(8 * 1024 * 1024), "good.dcm": files[0].read_bytes()}
    (tmp_path / "a.zip").write_bytes(zip_bytes(members))

    report = bounded(lambda: ingest(worklist, [tmp_path / "a.zip"]), headroom=GiB).value
    assert report.rejected == [
        ("a.zip/zeros.dcm", "The file unpacks to more than 200 times its packed size, the limit.")
    ]
    assert report.imported == 1


REPORT_MAX_REJECTED = 200  # studies.services.REPORT_MAX_REJECTED


def test_the_upload_report_lists_at_most_a_page_of_rejected_files(login, member, worklist):
    junk = zip_bytes({f"note-{n}.txt": b"not dicom" for n in range(REPORT_MAX_REJECTED + 50)})
    response = login(member).post(
        reverse("studies:upload", args=[worklist.public_id]),
        {"dicom_files": [SimpleUploadedFile("notes.zip", junk)]},
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert f'<span class="badge bad">{REPORT_MAX_REJECTED + 50}</span> rejected' in body
    assert body.count("This is not a DICOM file.") == REPORT_MAX_REJECTED
    assert "…and 50 more rejected files not listed here." in body
