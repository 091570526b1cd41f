import pytest

from studies.models import Study
from tests.e2e.conftest import log_in
from tests.factories import PASSWORD
from tests.studies.ingest_helpers import small_study, zip_bytes

pytestmark = pytest.mark.django_db(transaction=True)


def test_upload_a_zip_and_a_file_with_progress_and_report(
    page, live_server, member, worklist, tmp_path
):
    files = small_study(tmp_path / "in", series_count=1)
    archive = tmp_path / "cd.zip"
    archive.write_bytes(zip_bytes({p.name: p.read_bytes() for p in files[:2]}))
    (tmp_path / "notes.txt").write_text("hello\n" * 30)

    log_in(page, live_server, "member", PASSWORD)
    page.get_by_role("link", name="Upload studies").click()
    page.get_by_label("DICOM files or zip archives").set_input_files(
        [str(archive), str(files[2]), str(tmp_path / "notes.txt")]
    )
    page.get_by_role("button", name="Upload").click()
    page.get_by_role("heading", name="Upload report").wait_for()

    assert page.locator("#upload-status").inner_text() == "Finished."  # the script's own path
    counts = page.locator(".report-counts li").all_inner_texts()
    assert [" ".join(text.split()) for text in counts] == [
        "3 imported",
        "0 already present",
        "1 rejected",
    ]
    report = page.locator(".upload-report").inner_text()
    assert "notes.txt" in report and "This is not a DICOM file." in report
    study = Study.objects.get()
    assert study.number_of_instances == 3
    page.get_by_role("link", name=study.patient_display_name).click()
    assert page.get_by_role("heading", name=study.patient_display_name).is_visible()
