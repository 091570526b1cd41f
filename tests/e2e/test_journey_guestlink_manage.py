"""A guest link over its life, at desktop and phone size: the clinician edits it from the list
(limits, expiry, recipients), disables it; the recipient meets the unusable page and asks for a
new link (the clinician hears of it by email); the clinician enables it again, prints the
handout (QR code, no password) and unlocks it after the recipient's wrong passwords."""

import re

import pytest
from playwright.sync_api import expect

from guestlinks import services
from guestlinks.models import GuestLink
from tests.e2e.conftest import log_in
from tests.e2e.journeys import find_study, labelled, open_study, the_email
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)

GUEST_PASSWORD = "harbour-lights-9"


def assert_no_sideways_scroll(page):
    """Fits the screen's width (a phone's too): nothing to scroll sideways."""
    width = page.evaluate("window.innerWidth")
    assert page.evaluate("document.documentElement.scrollWidth") <= width


def open_the_panel(clinician, clinic):
    find_study(clinician, "okafor", clinic.study, count="2 studies")
    open_study(clinician, clinic.study)
    clinician.get_by_role("link", name="Guest links").click()
    panel = clinician.locator("#guest-links")
    expect(panel.get_by_role("heading", name="Guest links")).to_be_visible()
    return panel


def test_edit_disable_ask_enable_handout_unlock(person, site, small_clinic, step):
    clinic = small_clinic
    link = services.guestlink_create(
        actor=clinic.clinician,
        study=clinic.study,
        worklist=clinic.radiology,
        password=GUEST_PASSWORD,
        max_password_attempts=2,
        email="guest@example.net",
    )
    url = f"{site.url}{link.get_absolute_url()}"
    clinician = person("clinician")
    log_in(clinician, site, "morgan", PASSWORD)
    panel = open_the_panel(clinician, clinic)
    item = panel.locator(".gl-item")
    expect(item.locator("[data-gl-state]")).to_have_text("Active")

    # Edit from the list: limits, expiry, a mobile added.
    item.get_by_role("link", name=re.compile("^Edit guest link")).click()
    expect(clinician.get_by_role("heading", name="Edit guest link")).to_be_visible()
    labelled(clinician, "Max uses").fill("3")
    labelled(clinician, "Max password attempts").fill("4")
    clinician.get_by_label("30 days from now").check()
    labelled(clinician, "Recipient mobile").fill("07911 123456")
    assert_no_sideways_scroll(clinician)
    step("the edit form", clinician)
    clinician.get_by_role("button", name="Save").click()
    expect(clinician.locator(".messages")).to_contain_text("Guest link saved.")
    facts = panel.locator(".gl-item .gl-facts")
    expect(facts).to_contain_text(re.compile(r"Uses\s*0 of 3"))
    expect(facts).to_contain_text(re.compile(r"0 of 4 wrong attempts"))
    expect(facts).to_contain_text("+447911123456")

    # Disable it: the recipient finds it unusable and asks for a new one.
    panel.locator(".gl-item").get_by_role("link", name=re.compile("^Edit guest link")).click()
    clinician.get_by_label("Disabled").check()
    clinician.get_by_role("button", name="Save").click()
    expect(panel.locator(".gl-item [data-gl-state]")).to_have_text("Disabled")
    step("disabled", clinician)

    guest = person("guest")
    guest.goto(url)
    expect(guest.get_by_role("heading", name="This link is no longer available")).to_be_visible()
    labelled(guest, "Message to the person who shared it (optional)").fill(
        "It is Chidi, the link stopped working."
    )
    step("asking", guest)
    guest.get_by_role("button", name="Ask for a new link").click()
    expect(guest.get_by_role("heading", name="Thank you")).to_be_visible()
    expect(guest.locator("body")).not_to_contain_text("Okafor")
    email = the_email(to="morgan@example.org", subject="asks for a new guest link")
    assert "It is Chidi, the link stopped working." in email.body
    assert str(link.public_id) in email.body

    # Enable it again, and print the handout.
    clinician.reload()
    panel = clinician.locator("#guest-links")
    panel.locator(".gl-item").get_by_role("link", name=re.compile("^Edit guest link")).click()
    clinician.get_by_label("Disabled").uncheck()
    clinician.get_by_role("button", name="Save").click()
    expect(panel.locator(".gl-item [data-gl-state]")).to_have_text("Active")
    panel.get_by_role("link", name=re.compile("^Print a handout")).click()
    expect(clinician.get_by_role("heading", name="Your medical images")).to_be_visible()
    qr = clinician.locator(".handout-qr svg")
    expect(qr).to_be_visible()
    box = qr.bounding_box()
    assert box is not None and box["width"] >= 100 and box["width"] <= box["height"] + 1
    expect(clinician.locator(".handout-url")).to_have_text(url)
    expect(clinician.locator("body")).not_to_contain_text(GUEST_PASSWORD)
    expect(clinician.get_by_text("The password is not on this sheet")).to_be_visible()
    print_button = clinician.get_by_role("button", name="Print")
    expect(print_button).to_be_visible()
    assert_no_sideways_scroll(clinician)
    step("the handout", clinician)
    clinician.emulate_media(media="print")
    expect(print_button).to_be_hidden()
    expect(clinician.locator(".topbar")).to_be_hidden()
    expect(qr).to_be_visible()
    step("the handout as printed", clinician)
    clinician.emulate_media(media="screen")

    # The recipient types wrong passwords until it locks; the clinician unlocks it.
    guest.goto(url)
    for attempt in ("wrong-one", "wrong-two", "wrong-three", "wrong-four"):
        labelled(guest, "Password").fill(attempt)
        guest.get_by_role("button", name="Open study").click()
        guest.wait_for_load_state()
    expect(guest.get_by_role("heading", name="This link is no longer available")).to_be_visible()
    assert GuestLink.objects.get(pk=link.pk).state == "locked"
    clinician.go_back()
    clinician.reload()
    panel = clinician.locator("#guest-links")
    expect(panel.locator(".gl-item [data-gl-state]")).to_have_text("Locked after failed attempts")
    panel.get_by_role("link", name=re.compile("^Edit guest link")).click()
    clinician.get_by_role("button", name="Unlock").click()
    expect(clinician.locator(".messages")).to_contain_text("Guest link unlocked")
    expect(panel.locator(".gl-item [data-gl-state]")).to_have_text("Active")
    step("unlocked", clinician)
    guest.goto(url)
    labelled(guest, "Password").fill(GUEST_PASSWORD)
    guest.get_by_role("button", name="Open study").click()
    expect(guest.locator("body")).to_contain_text("Shared by Dr Morgan Lee")
