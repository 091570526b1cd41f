"""Send to PACS from the worklist, at desktop and phone size: the clinician selects a patient's
two studies, "Send to PACS…", sees both listed, picks the node with the keyboard and sends;
the sends page shows both sent, and the PACS (a pynetdicom SCP started here) has every image.
Neither page is wider than a 390px phone."""

import pytest
from playwright.sync_api import Page, expect
from pydicom.uid import CTImageStorage

from dicomnet.services import remote_node_create
from studies.models import Instance
from tests.dicomnet.test_send import PACS, Pacs
from tests.e2e.conftest import log_in
from tests.e2e.journeys import find_study, study_row
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def pacs():  # type: ignore[no-untyped-def]
    server = Pacs()
    yield server
    server.server.shutdown()


def no_sideways_scroll(page: Page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_select_two_studies_send_them_to_the_pacs_and_see_them_sent(
    person, site, small_clinic, pacs, step, device
):
    clinic = small_clinic
    # The factories leave the SOP class out; an ingested study has it, and sending needs it.
    Instance.objects.filter(series__study__in=[clinic.study, clinic.prior]).update(
        sop_class_uid=CTImageStorage
    )
    organisation = clinic.radiology.organisation
    remote_node_create(  # first in the list: the keyboard moves past it
        organisation=organisation, name="Archive", ae_title="ARCHIVE", host="127.0.0.1", port=9
    )
    remote_node_create(
        organisation=organisation, name="Main PACS", ae_title=PACS, host="127.0.0.1", port=pacs.port
    )
    clinician = person("clinician")
    log_in(clinician, site, "morgan", PASSWORD)
    find_study(clinician, "okafor", clinic.study, count="2 studies")

    # Both studies of the patient, checked from the keyboard, then the selection bar's action.
    for study in (clinic.study, clinic.prior):
        study_row(clinician, study).get_by_role("checkbox").focus()
        clinician.keyboard.press("Space")
    selection = clinician.get_by_role("group", name="With the selected studies")
    expect(selection).to_contain_text("2 selected")
    step("two studies selected", clinician)
    selection.get_by_role("button", name="Send to PACS…").focus()
    clinician.keyboard.press("Enter")

    expect(clinician.get_by_role("heading", level=1, name="Send to PACS")).to_be_visible()
    listed = clinician.get_by_role("list", name="Studies to send").get_by_role("listitem")
    expect(listed).to_have_count(2)
    expect(listed.first).to_contain_text("20/11/2026")  # the newest first
    expect(listed.nth(1)).to_contain_text("03/02/2024")
    node = clinician.get_by_label("DICOM node")
    expect(node.locator("option:checked")).to_have_text("Archive (ARCHIVE)")
    node.focus()
    clinician.keyboard.press("ArrowDown")
    expect(node.locator("option:checked")).to_have_text(f"Main PACS ({PACS})")
    no_sideways_scroll(clinician)
    step("the studies and the node", clinician)
    clinician.keyboard.press("Tab")
    send = clinician.get_by_role("button", name="Send 2 studies")
    expect(send).to_be_focused()
    clinician.keyboard.press("Enter")

    expect(clinician.get_by_role("heading", level=1, name="Sending to PACS")).to_be_visible()
    sends = clinician.get_by_role("list", name="Sends").get_by_role("listitem")
    expect(sends).to_have_count(2)
    for item in (sends.first, sends.nth(1)):
        expect(item.locator(".badge")).to_have_text("Sent")
        expect(item).to_contain_text("to Main PACS")
    expect(sends.filter(has_text="20/11/2026")).to_contain_text(clinic.study.patient_display_name)
    no_sideways_scroll(clinician)
    step("both sent", clinician)
    expected = Instance.objects.filter(series__study__in=[clinic.study, clinic.prior])
    assert sorted(pacs.received) == sorted(expected.values_list("sop_instance_uid", flat=True))

    # Each study's own page tells the same.
    sends.filter(has_text="03/02/2024").get_by_role("link").click()
    panel = clinician.locator("#dicom-send")
    expect(panel.locator(".badge").first).to_have_text("Sent")
    expect(panel).to_contain_text("to Main PACS")
