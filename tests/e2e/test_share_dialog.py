import re

import pytest

from tests.e2e.conftest import log_in
from tests.factories import (
    PASSWORD,
    OrganisationFactory,
    UserFactory,
    WorklistFactory,
    grant,
    partnership,
)

pytestmark = pytest.mark.django_db(transaction=True)

SCREENSHOTS = "/tmp"


@pytest.fixture
def people(worklist, organisation):
    colleague = UserFactory(
        username="ada", organisation=organisation, first_name="Ada", last_name="Lovelace"
    )
    far_away = WorklistFactory(
        organisation=OrganisationFactory(name="Far Away Clinic"), name="Far inbox"
    )
    partnership(organisation, far_away.organisation)  # an administrator allowed it
    reader = UserFactory(username="reader", organisation=far_away.organisation)
    grant(reader, far_away, "view_studies")
    return colleague, far_away, reader


def test_share_to_a_physician_and_by_code_then_the_recipients_see_it(
    page, new_page, live_server, owner, study, people
):
    colleague, far_away, reader = people
    code = far_away.share_code
    log_in(page, live_server, "owner", PASSWORD)
    page.get_by_role("link", name=study.patient_display_name).click()
    page.get_by_role("button", name="Actions").click()  # the guide: the study, Actions, Share
    page.get_by_role("link", name="Share", exact=True).click()

    dialog = page.get_by_role("dialog")
    dialog.get_by_role("heading", name="Share a study").wait_for()
    dialog.get_by_label("Ada Lovelace").check()
    dialog.get_by_label("Share codes").fill(code.lower())  # any case, no dash
    preview = dialog.locator("#share-code-preview")
    preview.get_by_text(
        f"{code[:4]}-{code[4:]} is Far inbox (location worklist) at Far Away Clinic."
    ).wait_for()
    dialog.get_by_label("Message (optional)").fill("For the Thursday meeting")
    dialog.screenshot(path=f"{SCREENSHOTS}/share-dialog-1280.png")

    dialog.get_by_role("button", name="Share", exact=True).click()
    dialog.get_by_text("Done. What happened for each recipient:").wait_for()
    outcomes = dialog.locator(".outcome")
    assert outcomes.count() == 2
    assert re.search(r"Shared\s+Ada Lovelace", outcomes.nth(0).inner_text())
    assert re.search(r"Shared\s+Far inbox", outcomes.nth(1).inner_text())
    dialog.screenshot(path=f"{SCREENSHOTS}/share-dialog-result-1280.png")
    dialog.get_by_role("button", name="Done").click()
    # The page reloads and its share history names both recipients.
    history = page.locator(".share-history")
    history.get_by_text("Ada Lovelace").wait_for()
    assert "Far inbox" in history.inner_text()
    history.screenshot(path=f"{SCREENSHOTS}/share-history-1280.png")

    for username, worklist_name in (("ada", "Ada Lovelace (personal)"), ("reader", "Far inbox")):
        recipient = new_page()
        log_in(recipient, live_server, username, PASSWORD)
        assert recipient.get_by_role("heading", name=worklist_name).is_visible()
        assert recipient.get_by_role("link", name=study.patient_display_name).is_visible()


def test_share_selected_studies_from_the_worklist_on_a_phone(
    new_page, live_server, owner, worklist, study, people
):
    colleague, _, _ = people
    phone = new_page(viewport={"width": 375, "height": 740}, is_mobile=True, has_touch=True)
    log_in(phone, live_server, "owner", PASSWORD)
    phone.get_by_role(
        "checkbox", name=re.compile(f"Select {re.escape(study.patient_display_name)}")
    ).check()
    phone.get_by_text("Actions").click()
    phone.get_by_role("button", name="Share selected…").click()
    dialog = phone.get_by_role("dialog")
    dialog.get_by_label("Ada Lovelace").wait_for()
    box = dialog.bounding_box()
    assert box and box["x"] >= 0 and box["x"] + box["width"] <= 375
    dialog.screenshot(path=f"{SCREENSHOTS}/share-dialog-375.png")
    # Keyboard only: tick the physician with the space bar, then submit.
    dialog.get_by_label("Ada Lovelace").focus()
    phone.keyboard.press("Space")
    dialog.get_by_role("button", name="Share", exact=True).focus()
    phone.keyboard.press("Enter")
    dialog.get_by_text("Done. What happened for each recipient:").wait_for()
    assert "Ada Lovelace" in dialog.locator(".outcome").first.inner_text()
    phone.keyboard.press("Escape")
    phone.get_by_role("dialog").wait_for(state="hidden")


def test_without_javascript_the_share_page_works(
    browser, live_server, owner, worklist, study, people
):
    colleague, _, _ = people
    context = browser.new_context(
        java_script_enabled=False, viewport={"width": 1280, "height": 900}
    )
    try:
        page = context.new_page()
        log_in(page, live_server, "owner", PASSWORD)
        page.get_by_role("link", name=study.patient_display_name).click()
        page.get_by_role("link", name="Share", exact=True).click()
        page.get_by_label("Ada Lovelace").check()
        page.get_by_role("button", name="Share", exact=True).click()
        assert re.search(r"Shared\s+Ada Lovelace", page.locator(".outcome").first.inner_text())
    finally:
        context.close()
