"""A clinician makes a guest link in the panel; a guest opens it in a fresh browser; the
clinician deletes it and the guest's viewer is gone."""

import os
import re
from pathlib import Path

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from guestlinks.models import GuestLink
from tests.e2e.conftest import log_in
from tests.e2e.journeys import while_serving
from tests.e2e.test_viewer import LOADED
from tests.factories import PASSWORD, ct_series

pytestmark = pytest.mark.django_db(transaction=True)

GUEST_PASSWORD = "blue-heron-42"


def study_page(live_server, study):
    # Straight to the study: the worklist page links to the upload page, which another
    # branch builds.
    return f"{live_server.url}{reverse('studies:detail', args=[study.public_id])}"


def shoot(page, name, tmp_path):
    """Screenshots at phone and desktop widths (kept in GUESTLINKS_SCREENSHOTS when set)."""
    directory = Path(os.environ.get("GUESTLINKS_SCREENSHOTS") or tmp_path)
    directory.mkdir(parents=True, exist_ok=True)
    for width in (375, 1280):
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(directory / f"{name}-{width}.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})


def test_guest_link_from_panel_to_viewer_and_back(
    page, new_page, live_server, owner, study, tmp_path
):
    ct_series(study, slices=4, number=1, series_description="Axial lung")
    ct_series(study, slices=3, number=2, series_description="Coronal reformat")

    # The clinician opens the panel and creates a link with a password.
    log_in(page, live_server, "owner", PASSWORD)
    page.goto(study_page(live_server, study))
    panel = page.locator("#guest-links")
    assert panel.is_hidden()
    page.get_by_role("link", name="Guest links").click()
    assert panel.is_visible()
    form = page.locator("#guest-link-form")
    assert form.is_hidden()
    page.get_by_role("button", name="New guest link").click()
    assert form.is_visible()
    assert page.get_by_label("7 days").is_checked()
    assert page.locator("#id_gl-expires_custom").is_hidden()
    page.get_by_label("Custom date and time").check()
    assert page.locator("#id_gl-expires_custom").is_visible()
    page.get_by_label("24 hours").check()
    page.locator("#id_gl-password").fill(GUEST_PASSWORD)
    page.get_by_label("Max uses").fill("3")
    page.get_by_label("Recipient email").fill("guest@example.net")
    page.get_by_label("Message").fill("The CT from this morning.")
    shoot(page, "panel-form", tmp_path)
    page.get_by_role("button", name="Create", exact=True).click()
    page.wait_for_load_state()
    assert page.locator("li.message", has_text="Guest link created").is_visible()
    assert panel.is_visible()  # the page comes back with the panel open
    item = panel.locator(".gl-item").first
    assert item.locator("[data-gl-state]").inner_text() == "Active"
    url = item.locator("[data-gl-url]").input_value()
    link = GuestLink.objects.get()
    assert url == f"{live_server.url}{link.get_absolute_url()}"
    item.get_by_role("button", name="Copy").click()
    expect(item.locator(".gl-copied")).to_have_text("Copied")
    shoot(page, "panel-list", tmp_path)

    # A guest, in a fresh browser context, fails once and then gets in.
    guest = new_page()
    response = guest.goto(url)
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "no-store" in response.headers["cache-control"]
    assert guest.get_by_role("heading", name="Medical images shared with you").is_visible()
    shoot(guest, "gate", tmp_path)
    guest.get_by_label("Password").fill("not-the-password")
    guest.get_by_role("button", name="Open study").click()
    assert "That password is not right. 4 attempts left." in guest.get_by_role("alert").inner_text()
    shoot(guest, "gate-wrong", tmp_path)
    guest.get_by_label("Password").fill(GUEST_PASSWORD)
    guest.get_by_role("button", name="Open study").click()
    guest.wait_for_load_state()
    assert link.token not in guest.url and "/g/view/" in guest.url
    banner = guest.get_by_label("Patient")
    assert study.patient_display_name in banner.inner_text()
    # The shared viewer: scroll through the images of the first series with the keyboard.
    guest.wait_for_function(LOADED)
    image = guest.locator("#viewer-image")
    first_src = image.get_attribute("src")
    guest.locator("#viewer-stage").focus()
    guest.keyboard.press("End")
    guest.wait_for_function(LOADED)
    assert "Slice 4/4" in guest.locator("#overlay-series").inner_text()
    assert image.get_attribute("src") != first_src
    assert "Coronal reformat" in guest.locator("#viewer-series").inner_text()
    # No way into the rest of the app from the guest viewer.
    assert (
        guest.locator("a[href^='/studies/'], a[href^='/worklists/'], a[href^='/admin/']").count()
        == 0
    )
    shoot(guest, "viewer", tmp_path)
    viewer_url = guest.url

    # The clinician sees the open in the list, then deletes the link.
    page.goto(study_page(live_server, study))
    page.get_by_role("link", name="Guest links").click()
    assert "1 of 3" in item.inner_text() and "127.0.0.1" in item.inner_text()
    page.once("dialog", lambda dialog: dialog.accept())
    item.get_by_role("button", name="Delete guest link").click()
    page.wait_for_load_state()
    assert page.locator("li.message", has_text="Guest link deleted").is_visible()
    assert panel.locator(".gl-item").first.locator("[data-gl-state]").inner_text() == "Deleted"

    # The guest's viewer is gone at once, and the link too.
    response = guest.goto(viewer_url)
    assert response.status == 404
    assert guest.get_by_role("heading", name="This link is no longer available").is_visible()
    guest.goto(url)
    assert guest.get_by_role("heading", name="This link is no longer available").is_visible()


def test_dismissing_the_confirmation_keeps_the_link(page, live_server, owner, study):
    from guestlinks import services

    link = services.guestlink_create(
        actor=owner, study=study, worklist=study.entries.first().worklist
    )
    log_in(page, live_server, "owner", PASSWORD)
    page.goto(study_page(live_server, study))
    page.get_by_role("link", name="Guest links").click()
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.get_by_role("button", name="Delete guest link").click()
    assert page.locator("#guest-links .gl-item [data-gl-state]").inner_text() == "Active"
    link.refresh_from_db()
    assert link.deleted_at is None


def test_a_form_error_never_drops_the_password(page, live_server, owner, study):
    """Password and an invalid mobile, Create; fix the mobile, Create: the link is
    password-protected, in the database and in the panel."""
    log_in(page, live_server, "owner", PASSWORD)
    page.goto(study_page(live_server, study))
    page.get_by_role("link", name="Guest links").click()
    page.get_by_role("button", name="New guest link").click()
    page.locator("#id_gl-password").fill(GUEST_PASSWORD)
    page.get_by_label("Recipient email").fill("guest@example.net")
    page.get_by_label("Recipient mobile").fill("12")
    page.get_by_role("button", name="Create", exact=True).click()

    expect(page.locator("#id_gl-mobile_error")).to_be_visible()
    expect(page.locator("#id_gl-password")).to_have_value(GUEST_PASSWORD)
    page.get_by_label("Recipient mobile").fill("+447911123456")
    page.get_by_role("button", name="Create", exact=True).click()

    expect(page.locator("li.message", has_text="Guest link created")).to_be_visible()
    link = GuestLink.objects.get()
    assert link.password_kind == GuestLink.PasswordKind.PASSWORD
    item = page.locator("#guest-links .gl-item").first
    expect(item.locator(".gl-facts")).to_contain_text("Password · 0 of 5 wrong attempts")


FRAMES_FETCHED = """(count) => performance.getEntriesByType('resource')
  .filter((entry) => entry.name.includes('/frames/')).length >= count"""


@pytest.mark.parametrize(
    ("end", "key"),
    [("deleted", "ArrowDown"), ("expired", "End")],
    ids=["deleted-to-a-prefetched-slice", "expired-to-a-slice-not-fetched-yet"],
)
def test_the_viewer_stops_with_a_plain_message_once_the_link_is_gone(
    new_page, live_server, owner, study, end, key
):
    import datetime

    from django.utils import timezone

    from guestlinks import services

    owner.title, owner.first_name, owner.last_name = "Dr", "Ada", "Lovelace"
    owner.save()
    ct_series(study, slices=10)
    link = services.guestlink_create(
        actor=owner, study=study, worklist=study.entries.first().worklist
    )
    guest = new_page()
    guest.goto(f"{live_server.url}{link.get_absolute_url()}")
    guest.get_by_role("button", name="Open study").click()
    guest.wait_for_function(LOADED)
    guest.wait_for_function(FRAMES_FETCHED, arg=7)  # the next 6 slices are prefetched

    if end == "deleted":
        while_serving(lambda: services.guestlink_delete(actor=owner, link=link))
    else:
        expired = timezone.now() - datetime.timedelta(seconds=1)
        while_serving(lambda: GuestLink.objects.filter(pk=link.pk).update(expires_at=expired))
    guest.locator("#viewer-stage").focus()
    guest.keyboard.press(key)

    message = guest.locator("#viewer-placeholder")
    expect(message).to_have_text(
        "This link is no longer available; ask Dr Ada Lovelace (St Elsewhere) for a new one."
    )
    image = guest.locator("#viewer-image")
    expect(image).to_be_hidden()
    expect(image).not_to_have_attribute("src", re.compile("."))
    expect(guest.locator("#viewer-series img")).to_have_count(0)
    guest.keyboard.press("ArrowDown")  # nothing more is shown
    expect(image).to_be_hidden()
    expect(message).to_be_visible()
    body = guest.locator("body").inner_text()
    assert "DOCTYPE" not in body and "cannot be shown" not in body
