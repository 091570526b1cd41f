"""A phone, as a guest with priors and as a clinician: the image keeps the screen, series and
priors live in a drawer, the guest banner folds away; and the worklist shows many studies."""

import datetime
import os
from pathlib import Path

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from guestlinks import services as guestlink_services
from tests.e2e.conftest import log_in
from tests.e2e.test_viewer import LOADED
from tests.factories import PASSWORD, StudyFactory, add_to_worklist, ct_series

pytestmark = pytest.mark.django_db(transaction=True)

PORTRAIT = {"width": 390, "height": 844}
LANDSCAPE = {"width": 844, "height": 390}
PHONE = {"viewport": PORTRAIT, "is_mobile": True, "has_touch": True}
GUEST_PASSWORD = "blue-heron-42"


def shoot(page, name, tmp_path):
    """A screenshot of each step (kept in PHONE_SCREENSHOTS when set, to look at)."""
    directory = Path(os.environ.get("PHONE_SCREENSHOTS") or tmp_path)
    directory.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(directory / f"{name}.png"))


@pytest.fixture
def prior(study, worklist):
    ct_series(study, slices=4, size=256, series_description="Axial lung")
    ct_series(study, slices=3, size=256, number=2, series_description="Coronal")
    earlier = StudyFactory(patient_id=study.patient_id, study_date=datetime.date(2021, 6, 1))
    add_to_worklist(earlier, worklist)
    ct_series(earlier, slices=2, size=128)
    return earlier


def share_of_screen(page, locator):
    box = locator.bounding_box()
    assert box is not None
    return box["height"] / page.viewport_size["height"]


def toolbar_bottom(page):
    box = page.get_by_role("toolbar", name="Viewer tools").bounding_box()
    assert box is not None
    return box["y"] + box["height"]


def test_guest_on_a_phone_sees_a_big_image_and_finds_series_and_priors_in_a_drawer(
    new_page, live_server, owner, study, worklist, prior, tmp_path
):
    link = guestlink_services.guestlink_create(
        actor=owner, study=study, worklist=worklist, password=GUEST_PASSWORD, include_priors=True
    )
    guest = new_page(**PHONE)
    guest.goto(f"{live_server.url}{link.get_absolute_url()}")
    guest.get_by_label("Password").fill(GUEST_PASSWORD)
    guest.get_by_role("button", name="Open study").click()
    guest.wait_for_function(LOADED)
    image = guest.locator("#viewer-image")

    # Portrait: the banner folds to one line once the image is there; the image has the room.
    banner = guest.get_by_label("Patient")
    details = banner.get_by_role("button", name="Details")
    expect(details).to_have_attribute("aria-expanded", "false")
    expect(banner.get_by_text("Shared by")).to_be_hidden()
    expect(banner.get_by_text(study.patient_display_name)).to_be_visible()
    shoot(guest, "guest-portrait", tmp_path)
    assert share_of_screen(guest, image) >= 0.6
    assert guest.evaluate("document.documentElement.scrollWidth") <= PORTRAIT["width"]
    details.click()  # what the banner said is one tap away
    expect(banner.get_by_text("Shared by")).to_be_visible()
    details.click()
    expect(banner.get_by_text("Shared by")).to_be_hidden()

    # Series and priors: in the drawer, which closes on a choice.
    drawer_button = guest.get_by_role("button", name="Series & priors")
    series_two = guest.get_by_role("button", name="Series CT 2 · Coronal, 3 images")
    expect(series_two).to_be_hidden()
    drawer_button.click()
    expect(drawer_button).to_have_attribute("aria-expanded", "true")
    expect(series_two).to_be_visible()
    shoot(guest, "guest-drawer", tmp_path)
    series_two.click()
    expect(series_two).to_be_hidden()
    expect(guest.locator("#overlay-series")).to_contain_text("Coronal")
    drawer_button.click()
    guest.get_by_role("button", name="Prior: 01/06/2021").click()
    expect(guest.get_by_role("button", name="Prior: 01/06/2021")).to_be_hidden()
    guest.wait_for_function(
        f"() => document.getElementById('viewer-image').src.includes('{prior.study_instance_uid}')"
    )
    guest.wait_for_function(LOADED)
    expect(guest.locator("#overlay-series")).to_contain_text("Slice 1/2")
    # Escape closes the drawer too, and the focus goes back to its button.
    drawer_button.click()
    guest.keyboard.press("Escape")
    expect(drawer_button).to_be_focused()
    expect(drawer_button).to_have_attribute("aria-expanded", "false")

    # Landscape: banner and toolbar take less than half the height; the image the rest.
    guest.set_viewport_size(LANDSCAPE)
    shoot(guest, "guest-landscape", tmp_path)
    assert toolbar_bottom(guest) < LANDSCAPE["height"] / 2
    assert share_of_screen(guest, image) >= 0.4
    assert guest.evaluate("document.documentElement.scrollHeight") <= LANDSCAPE["height"]


def test_clinician_viewer_on_a_phone_in_both_orientations(
    new_page, live_server, read_only, study, worklist, prior, tmp_path
):
    page = new_page(**PHONE)
    log_in(page, live_server, "readonly", PASSWORD)
    url = reverse("studies:viewer", args=[study.public_id])
    page.goto(f"{live_server.url}{url}?worklist={worklist.public_id}")
    page.wait_for_function(LOADED)
    image = page.locator("#viewer-image")
    shoot(page, "clinician-portrait", tmp_path)
    assert share_of_screen(page, image) >= 0.6
    page.set_viewport_size(LANDSCAPE)
    shoot(page, "clinician-landscape", tmp_path)
    assert toolbar_bottom(page) < LANDSCAPE["height"] / 2
    assert share_of_screen(page, image) >= 0.4


def test_the_worklist_on_a_phone_shows_six_studies_and_folds_its_filters(
    new_page, live_server, owner, worklist, tmp_path
):
    for day in range(1, 13):
        add_to_worklist(
            StudyFactory(
                patient_name=f"Patient^Number{day}", study_date=datetime.date(2025, 1, day)
            ),
            worklist,
        )
    page = new_page(**PHONE)
    log_in(page, live_server, "owner", PASSWORD)
    shoot(page, "worklist", tmp_path)
    rows = page.locator("table.studies tbody tr")
    expect(rows).to_have_count(12)
    in_view = sum(
        1
        for box in (rows.nth(i).bounding_box() for i in range(12))
        if box and box["y"] + box["height"] <= PORTRAIT["height"]
    )
    assert in_view >= 6
    # Each row still names the patient in full, with the date, and nothing spills sideways.
    expect(rows.first).to_contain_text("PATIENT, Number12")
    expect(rows.first).to_contain_text("12/01/2025")
    assert page.evaluate("document.documentElement.scrollWidth") <= PORTRAIT["width"]
    filters = page.locator("details.filters")
    expect(filters).not_to_have_attribute("open", "")
    expect(page.get_by_role("searchbox", name="Search")).to_be_hidden()

    # The filters open with a tap; once a filter is set they stay open, saying so.
    page.get_by_text("Search and filters").click()
    page.get_by_role("searchbox", name="Search").fill("number1")
    page.get_by_role("button", name="Search", exact=True).click()
    expect(page.get_by_text("4 studies")).to_be_visible()
    expect(filters).to_have_attribute("open", "")
    expect(page.locator("details.filters summary")).to_contain_text("1 active")
