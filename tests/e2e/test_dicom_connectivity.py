"""Issue 13 in a browser, at phone and desktop sizes: a clinician makes an API token (shown
once) and revokes it; sends a study to the PACS from the study page and sees it sent; the
worklist page shows its DICOM AE title."""

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from dicomnet.services import remote_node_create
from tests.dicomnet.test_send import Pacs
from tests.dicomweb.apidata import stored  # noqa: F401 (fixture)
from tests.e2e.conftest import log_in
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)


def test_api_token_shown_once_then_revoked(person, live_server, owner, worklist, step):
    page = person("clinician")
    log_in(page, live_server, "owner", PASSWORD)
    page.goto(f"{live_server.url}{reverse('worklists:detail', args=[worklist.public_id])}")
    expect(page.locator("code.ae-title")).to_have_text(worklist.ae_title)
    page.get_by_role("link", name="API tokens").click()
    page.get_by_label("Name").fill("OHIF viewer")
    page.get_by_role("button", name="Create token").click()
    token = page.get_by_label("Token")
    expect(token).to_be_visible()
    assert token.input_value().startswith("cs_")
    step("token shown once", page)
    page.reload()  # a GET after the redirect: the token is not shown again
    expect(page.get_by_label("Token")).to_have_count(0)
    page.get_by_role("button", name="Revoke OHIF viewer").click()
    expect(page.get_by_role("cell", name="Revoked")).to_be_visible()


def test_send_to_pacs_from_the_study_page(person, live_server, owner, worklist, stored, step):  # noqa: F811
    pacs = Pacs()
    try:
        remote_node_create(
            organisation=worklist.organisation,
            name="Main PACS",
            ae_title="REMOTE_PACS",
            host="127.0.0.1",
            port=pacs.port,
        )
        page = person("clinician")
        log_in(page, live_server, "owner", PASSWORD)
        path = reverse("studies:detail", args=[stored.study.public_id])
        page.goto(f"{live_server.url}{path}?worklist={worklist.public_id}")
        panel = page.locator("#dicom-send")
        expect(panel.get_by_role("heading", name="Send to PACS")).to_be_visible()
        panel.get_by_label("DICOM node").select_option(label="Main PACS (REMOTE_PACS)")
        panel.get_by_role("button", name="Send study").click()
        expect(page.locator("#dicom-send .badge").first).to_have_text("Sent")
        step("sent", page)
        assert sorted(pacs.received) == sorted(stored.sop_uids)
    finally:
        pacs.server.shutdown()
