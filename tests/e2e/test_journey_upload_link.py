"""A clinician creates an upload link; someone without an account opens it on a phone, in a
fresh browser, uploads a folder of generated DICOM files (a CD export with a DICOMDIR), sees
each file's progress and the summary; the clinician then finds the study in the worklist,
marked with who uploaded it and through which link."""

import pytest
from playwright.sync_api import expect

from studies.models import Study
from tests.e2e.conftest import log_in
from tests.e2e.journeys import labelled
from tests.factories import PASSWORD
from tests.studies.ingest_helpers import small_study

pytestmark = pytest.mark.django_db(transaction=True)
PHONE = pytest.mark.parametrize("device", ["phone"], indirect=True)

LINK_PASSWORD = "lighthouse-42"


@PHONE
def test_upload_a_folder_through_an_upload_link_on_a_phone(
    site, small_clinic, person, step, tmp_path, settings
):
    settings.UPLOADLINK_STAGING_DIR = tmp_path / "staging"
    settings.UPLOADLINK_CHUNK_BYTES = 4096  # several chunks per file: the chunked path
    clinician = person("clinician", device="desktop")
    log_in(clinician, site, "morgan", PASSWORD)
    clinician.goto(f"{site.url}/worklists/{small_clinic.radiology.public_id}/")
    clinician.get_by_role("link", name="Upload links").click()
    expect(clinician.get_by_role("heading", name="Upload links", exact=True)).to_be_visible()
    labelled(clinician, "Label").fill("Northfield CD")
    labelled(clinician, "Max uploads").fill("2")
    labelled(clinician, "Password").fill(LINK_PASSWORD)
    clinician.get_by_role("checkbox", name="Notify me when something is uploaded").check()
    clinician.get_by_role("button", name="Create upload link").click()
    expect(clinician.get_by_text("Upload link created.")).to_be_visible()
    url_box = clinician.get_by_label("Link to send")
    expect(url_box).to_have_count(1)
    url = url_box.input_value()
    assert "/u/" in url
    step("link created", clinician)

    folder = tmp_path / "CDROM"
    small_study(folder / "DICOM", series_count=1)  # three images of one series
    (folder / "DICOMDIR").write_bytes(b"\0" * 128 + b"DICM" + b"../../not/a/path")

    sender = person("sender")
    sender.goto(url)
    expect(sender.get_by_role("heading", name="Upload medical images")).to_be_visible()
    labelled(sender, "Password").fill(LINK_PASSWORD)
    sender.get_by_role("button", name="Continue").click()
    expect(sender.get_by_role("heading", name="Upload medical images")).to_be_visible()
    assert "/u/upload/" in sender.url and url not in sender.url
    labelled(sender, "Your name").fill("Sam Carter")
    labelled(sender, "Note for the clinic").fill("CT from Northfield, March")
    sender.locator("input[webkitdirectory]").set_input_files(str(folder))
    expect(sender.get_by_text("4 files chosen")).to_be_visible()
    step("folder chosen", sender)
    sender.get_by_role("button", name="Upload").click()
    expect(sender.locator("[data-filelist] li")).to_have_count(4)
    expect(sender.get_by_role("heading", name="Upload complete")).to_be_visible()
    expect(sender.locator("#ul-overall-bar")).to_have_attribute("value", "100")
    for bar in sender.locator("[data-filelist] progress").all():
        expect(bar).to_have_attribute("value", "100")
    summary = sender.locator("[data-upload-summary]")
    expect(summary).to_contain_text("3 images received")
    expect(summary).to_contain_text("Study received")
    expect(summary).not_to_contain_text("DICOMDIR")
    step("summary", sender)

    study = Study.objects.get(patient_name="Rivers^Ada")  # the generated folder's patient
    assert study.number_of_instances == 3
    clinician.goto(f"{site.url}/worklists/{small_clinic.radiology.public_id}/")
    row = clinician.locator("tr", has_text=study.patient_display_name)
    expect(row).to_contain_text("Uploaded by Sam Carter through upload link Northfield CD")
    row.get_by_role("link", name=study.patient_display_name).click()
    expect(clinician.locator("[data-entry-note]")).to_have_text(
        "Uploaded by Sam Carter through upload link Northfield CD"
    )
    clinician.goto(f"{site.url}/u/manage/{small_clinic.radiology.public_id}/")
    expect(clinician.locator("[data-uploads]")).to_have_text("1 of 2")
    step("clinician sees it", clinician)
