"""The guides' two paths from a study: "select the study, Actions, Share", and "click the study
link icon" (on the worklist row or the study page) to reach its guest links. Desktop and phone."""

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from guestlinks import services as guestlink_services
from tests.e2e.conftest import log_in
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)

DEVICES = {
    "desktop": {"viewport": {"width": 1366, "height": 900}},
    "phone": {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True},
}


@pytest.fixture(params=list(DEVICES))
def device(request):
    return DEVICES[request.param]


@pytest.fixture
def many_links(owner, study, worklist):
    """Six links: enough that the panel is taller than a screen."""
    return [
        guestlink_services.guestlink_create(
            actor=owner, study=study, worklist=worklist, email=f"guest{n}@example.net"
        )
        for n in range(6)
    ]


def icon_name(study):
    """The worklist row's study-link icon: named by the study, not the patient (whose name
    is the row's other link)."""
    return f"Guest links for {study.study_description} of {study.study_date:%d/%m/%Y}"


def study_url(live_server, study, worklist):
    path = reverse("studies:detail", args=[study.public_id])
    return f"{live_server.url}{path}?worklist={worklist.public_id}"


def expect_panel_in_view(page):
    panel = page.locator("#guest-links")
    expect(panel.get_by_role("heading", name="Guest links", exact=True)).to_be_in_viewport()
    expect(panel.get_by_role("button", name="New guest link")).to_be_in_viewport()


def test_actions_share_opens_the_share_dialog(
    new_page, live_server, owner, study, worklist, device
):
    page = new_page(**device)
    log_in(page, live_server, "owner", PASSWORD)
    page.goto(study_url(live_server, study, worklist))

    actions = page.get_by_role("button", name="Actions")
    expect(actions).to_have_attribute("aria-expanded", "false")
    share = page.get_by_role("link", name="Share", exact=True)
    expect(share).to_be_hidden()
    actions.click()
    expect(actions).to_have_attribute("aria-expanded", "true")
    expect(share).to_be_visible()
    expect(page.get_by_role("link", name="Guest links").last).to_be_visible()
    # Escape closes the menu and gives the focus back to its button.
    page.keyboard.press("Escape")
    expect(share).to_be_hidden()
    expect(actions).to_be_focused()
    expect(actions).to_have_attribute("aria-expanded", "false")

    # With the keyboard: Enter opens the menu on its first item, Enter on Share opens the dialog.
    page.keyboard.press("Enter")
    expect(share).to_be_focused()
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_role("heading", name="Share a study")).to_be_visible()
    expect(share).to_be_hidden()  # the menu closed behind the dialog


def test_actions_guest_links_opens_the_panel_at_its_heading(
    new_page, live_server, owner, study, worklist, many_links, device
):
    page = new_page(**device)
    log_in(page, live_server, "owner", PASSWORD)
    page.goto(study_url(live_server, study, worklist))
    page.get_by_role("button", name="Actions").click()
    page.locator("#study-actions-menu").get_by_role("link", name="Guest links").click()
    expect_panel_in_view(page)
    expect(page.locator("#guest-links .gl-item")).to_have_count(len(many_links))


def test_guest_links_button_brings_the_heading_into_view(
    new_page, live_server, owner, study, worklist, many_links, device
):
    page = new_page(**device)
    log_in(page, live_server, "owner", PASSWORD)
    page.goto(study_url(live_server, study, worklist))
    page.locator(".page-head").get_by_role("link", name="Guest links").click()
    expect_panel_in_view(page)
    # The form opens from there, and "Create" is reachable.
    page.get_by_role("button", name="New guest link").click()
    expect(page.get_by_label("Max uses")).to_be_focused()


def test_worklist_row_icon_opens_the_studys_guest_links(
    new_page, live_server, owner, study, worklist, many_links, device
):
    page = new_page(**device)
    log_in(page, live_server, "owner", PASSWORD)
    page.goto(f"{live_server.url}{reverse('worklists:detail', args=[worklist.public_id])}")
    icon = page.get_by_role("link", name=icon_name(study))
    icon.click()
    expect(page).to_have_url(f"{study_url(live_server, study, worklist)}&panel=guest-links")
    expect_panel_in_view(page)


def test_no_icon_or_menu_item_without_the_permission(
    new_page, live_server, read_only, study, worklist
):
    page = new_page(**DEVICES["desktop"])
    log_in(page, live_server, "readonly", PASSWORD)
    expect(page.get_by_role("link", name=study.patient_display_name)).to_be_visible()
    expect(page.get_by_role("link", name=icon_name(study))).to_have_count(0)
    page.goto(study_url(live_server, study, worklist))
    # Nothing this role may do from a study beyond viewing it: no empty menu.
    expect(page.get_by_role("link", name="Open viewer")).to_be_visible()
    expect(page.get_by_role("button", name="Actions")).to_have_count(0)
