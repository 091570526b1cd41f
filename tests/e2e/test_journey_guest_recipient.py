"""A recipient opens each kind of guest link from the email they were sent, on a phone (the
password link also at desktop size): a password, the patient's birth date, a typed password
overriding the birth date, wrong passwords until the link locks, a link used up, one that
expired, one deleted while the recipient is viewing it; and the creator's view notification.

The links are made through the service (the panel journey makes them through the page); the
recipient reads the link in the email like a person, in a fresh browser.
"""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from guestlinks import services
from guestlinks.models import GuestLink
from tests.e2e.conftest import log_in
from tests.e2e.journeys import (
    BIRTH_DATE_PASSWORD,
    PRESENT_MS,
    expect_image_loaded,
    labelled,
    link_in,
    the_email,
    while_serving,
)
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)
PHONE = pytest.mark.parametrize("device", ["phone"], indirect=True)

GUEST_PASSWORD = "harbour-lights-9"
UNAVAILABLE = "This link is no longer available"


def send_link(clinic, recipient, **options):
    """A guest link for the study sent to `recipient`; returns the link in their email."""
    services.guestlink_create(
        actor=clinic.clinician,
        study=clinic.study,
        worklist=clinic.radiology,
        email=recipient,
        **options,
    )
    email = the_email(to=recipient, subject="shared medical images with you")
    assert "Dr Morgan Lee of St Elsewhere has shared medical images with you" in email.body
    return link_in(email.body, path="/g/")


def expect_gate(guest, *, uses=""):
    expect(guest.get_by_role("heading", name="Medical images shared with you")).to_be_visible()
    expect(guest.get_by_text("Shared by Dr Morgan Lee of St Elsewhere.")).to_be_visible()
    expect(guest.get_by_text("Available until")).to_be_visible()
    if uses:
        expect(guest.locator(".gl-small")).to_contain_text(uses)


def enter_password(guest, password):
    labelled(guest, "Password").fill(password)
    guest.get_by_role("button", name="Open study").click()


def expect_wrong_password(guest, attempts_left):
    left = f"{attempts_left} attempt{'s' if attempts_left != 1 else ''} left"
    expect(guest.get_by_role("alert")).to_have_text(f"That password is not right. {left}.")
    expect(labelled(guest, "Password")).to_have_value("")


def expect_viewer(guest, study):
    banner = guest.get_by_role("banner", name="Patient")
    expect(banner).to_contain_text(study.patient_display_name)
    expect(banner).to_contain_text("Shared by Dr Morgan Lee (St Elsewhere)")
    expect_image_loaded(guest.locator("#viewer-image"))
    expect(guest.locator("#overlay-series")).to_contain_text("Slice 1/12")
    assert "/g/view/" in guest.url  # the token is in no address after the gate


def expect_unavailable(guest):
    expect(guest.get_by_role("heading", name=UNAVAILABLE)).to_be_visible()
    expect(guest.get_by_text("please ask them for a new link")).to_be_visible()


def test_a_password_link_with_priors(person, site, small_clinic, step):
    clinic = small_clinic
    url = send_link(clinic, "guest@example.net", password=GUEST_PASSWORD, include_priors=True)
    guest = person("guest")
    response = guest.goto(url)
    assert response is not None and response.headers["referrer-policy"] == "no-referrer"
    expect_gate(guest)
    step("the gate", guest)
    enter_password(guest, GUEST_PASSWORD)
    expect_viewer(guest, clinic.study)
    step("the viewer", guest)

    # Through the slices to the last one, then the prior study.
    guest.locator("#viewer-stage").focus()
    guest.keyboard.press("End")
    expect(guest.locator("#overlay-series")).to_contain_text("Slice 12/12")
    expect_image_loaded(guest.locator("#viewer-image"))
    if guest.viewport_size["width"] < 900:  # on a phone, series and priors are in a drawer
        guest.get_by_role("button", name="Series & priors").click()
    priors = guest.locator("#viewer-priors")
    expect(priors).to_contain_text("Studies of this patient (2)")
    priors.get_by_role("button", name="Prior: 03/02/2024").click()
    expect(guest.locator("#viewer-image")).to_have_attribute(
        "src", re.compile(re.escape(clinic.prior.study_instance_uid))
    )
    expect_image_loaded(guest.locator("#viewer-image"))
    expect(guest.locator("#overlay-series")).to_contain_text("Slice 1/2")
    step("the prior", guest)
    # Nothing in the guest viewer leads into the rest of the application.
    expect(
        guest.locator("a[href^='/studies/'], a[href^='/worklists/'], a[href^='/admin/']")
    ).to_have_count(0)


@PHONE
def test_a_birth_date_link(person, site, small_clinic, step):
    url = send_link(small_clinic, "guest@example.net", password_is_dob=True)
    guest = person("guest")
    guest.goto(url)
    expect_gate(guest)
    expect(
        guest.get_by_text("The password is the patient's date of birth, written as YYYYMMDD")
    ).to_be_visible()
    enter_password(guest, "17/05/1970")  # not the format asked for
    expect_wrong_password(guest, 4)
    step("a wrong format", guest)
    enter_password(guest, BIRTH_DATE_PASSWORD)
    expect_viewer(guest, small_clinic.study)


@PHONE
def test_a_typed_password_overrides_the_birth_date(person, site, small_clinic, step):
    url = send_link(
        small_clinic, "guest@example.net", password=GUEST_PASSWORD, password_is_dob=True
    )
    guest = person("guest")
    guest.goto(url)
    expect_gate(guest)
    expect(guest.get_by_text("The password is the patient's date of birth")).to_have_count(0)
    enter_password(guest, BIRTH_DATE_PASSWORD)
    expect_wrong_password(guest, 4)
    step("the birth date is refused", guest)
    enter_password(guest, GUEST_PASSWORD)
    expect_viewer(guest, small_clinic.study)


@PHONE
def test_wrong_passwords_until_the_link_locks(person, site, small_clinic, step):
    url = send_link(
        small_clinic, "guest@example.net", password=GUEST_PASSWORD, max_password_attempts=3
    )
    guest = person("guest")
    guest.goto(url)
    enter_password(guest, "harbour-lights-8")
    expect_wrong_password(guest, 2)
    enter_password(guest, "harbour-light-9")
    expect_wrong_password(guest, 1)
    step("one attempt left", guest)
    enter_password(guest, "Harbour-lights-9")
    expect_unavailable(guest)
    step("locked", guest)
    # The creator is told; the right password no longer opens it, in any browser.
    locked = the_email(to="morgan@example.org", subject="Guest link locked after wrong passwords")
    assert "CT chest, 20/11/2026" in locked.subject
    other = person("guest-again")
    other.goto(url)
    expect_unavailable(other)
    expect(labelled(other, "Password")).to_have_count(0)


@PHONE
def test_a_used_up_link(person, site, small_clinic, step):
    url = send_link(small_clinic, "guest@example.net", max_uses=1)
    guest = person("guest")
    guest.goto(url)
    expect_gate(guest, uses="it can be opened 1 more time")
    guest.get_by_role("button", name="Open study").click()
    expect_viewer(guest, small_clinic.study)
    step("opened once", guest)
    # Forwarded to someone else, or opened again later: used up.
    other = person("second-reader")
    other.goto(url)
    expect_unavailable(other)
    step("used up", other)
    # The session that used it goes on.
    guest.reload()
    expect_image_loaded(guest.locator("#viewer-image"))


@PHONE
def test_an_expired_link(person, site, small_clinic, step):
    url = send_link(small_clinic, "guest@example.net", password=GUEST_PASSWORD)
    guest = person("guest")
    guest.goto(url)
    expect_gate(guest)
    # The guest reads the email too late: the link expires while the page is open.
    GuestLink.objects.update(expires_at=timezone.now() - timedelta(minutes=1))
    enter_password(guest, GUEST_PASSWORD)
    expect_unavailable(guest)
    step("expired on open", guest)
    guest.goto(url)
    expect_unavailable(guest)


@PHONE
def test_a_link_deleted_while_the_recipient_is_viewing(person, site, small_clinic, step):
    clinic = small_clinic
    url = send_link(clinic, "guest@example.net")
    guest = person("guest")
    guest.goto(url)
    guest.get_by_role("button", name="Open study").click()
    expect_viewer(guest, clinic.study)
    step("viewing", guest)

    link = GuestLink.objects.get()
    while_serving(lambda: services.guestlink_delete(actor=clinic.clinician, link=link))
    # The next image the guest asks for (another window) is refused, with a plain message.
    guest.get_by_label("Window preset").select_option("lung")
    placeholder = guest.locator("#viewer-placeholder")
    # Past the first, general words, to what the viewer learned from the server:
    expect(placeholder).to_have_text(re.compile(r"^(?!\s*This image cannot be shown\.\s*$)\S"))
    expect(placeholder).to_contain_text(UNAVAILABLE, timeout=PRESENT_MS)
    expect(placeholder).to_contain_text("Morgan Lee")
    expect(placeholder).not_to_contain_text("<")
    step("deleted", guest)
    # Slices fetched ahead of time are not shown any more either.
    guest.locator("#viewer-stage").focus()
    guest.keyboard.press("ArrowDown")
    expect(placeholder).to_contain_text(UNAVAILABLE)
    expect(guest.locator("#viewer-image")).to_be_hidden()


@PHONE
def test_the_view_notification_in_the_outbox(person, site, small_clinic, step):
    clinic = small_clinic
    url = send_link(clinic, "guest@example.net", notify_on_view=True, max_uses=5)
    guest = person("guest")
    guest.goto(url)
    guest.get_by_role("button", name="Open study").click()
    expect_viewer(guest, clinic.study)

    note = the_email(to="morgan@example.org", subject="Your guest link was opened")
    assert note.subject == "Your guest link was opened (CT chest, 20/11/2026)"
    assert re.search(r"From:\s+127\.0\.0\.1, Chrome on Android", note.body), note.body
    assert re.search(r"Recipient:\s+guest@example\.net", note.body), note.body
    assert re.search(r"Uses left:\s+4", note.body), note.body
    # The clinician follows the email's link to the study and sees the open in the panel.
    clinician = person("clinician", device="desktop")
    log_in(clinician, site, "morgan", PASSWORD)
    clinician.goto(link_in(note.body, path="/studies/"))
    expect(clinician.get_by_role("heading", level=1)).to_have_text(
        clinic.study.patient_display_name
    )
    clinician.get_by_role("link", name="Guest links").click()
    item = clinician.locator("#guest-links .gl-item")
    expect(item.locator(".gl-facts")).to_contain_text(re.compile(r"Uses\s*1 of 5"))
    expect(item.locator(".gl-facts")).to_contain_text(
        re.compile(
            r"Last opened\s*\d\d/\d\d/\d{4} \d\d:\d\d from 127\.0\.0\.1 \(Chrome on Android\)"
        )
    )
    step("the open in the panel", clinician)


@PHONE
def test_on_a_phone_the_image_gets_most_of_the_screen(person, site, small_clinic):
    url = send_link(small_clinic, "guest@example.net", include_priors=True)
    guest = person("guest")
    guest.goto(url)
    guest.get_by_role("button", name="Open study").click()
    expect_viewer(guest, small_clinic.study)
    box = guest.locator("#viewer-stage").bounding_box()
    assert box is not None and box["height"] >= 0.6 * 844, f"the image area is {box}"
