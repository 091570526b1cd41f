"""The journey of "Creating a Guest Link", at desktop and phone size: find the study, open its
guest links, 'New Guest Link', fill out every parameter the guide lists, 'Create'; the list of
created links shows each option, the link itself (the same as in the email and the SMS the
recipient gets), copies it, and deletes it ("trash can", then OK).

The whole journey runs at both sizes; the checks of single fixed steps (a form error keeping
the password, which is the same form at any size, and the worklist's study-link icon) run where
the issue saw them or at both when cheap."""

import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from guestlinks import services
from guestlinks.models import GuestLink
from tests.e2e.conftest import log_in
from tests.e2e.journeys import (
    PRESENT_MS,
    find_study,
    labelled,
    link_in,
    open_study,
    sms_texts,
    study_row,
    the_email,
)
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)

GUEST_PASSWORD = "harbour-lights-9"


def open_the_study(person, site, clinic):
    clinician = person("clinician")
    log_in(clinician, site, "morgan", PASSWORD)
    find_study(clinician, "okafor", clinic.study, count="2 studies")
    open_study(clinician, clinic.study)
    return clinician


def facts(item):
    """The options a listed link shows, as 'name: value' lines."""
    return item.locator(".gl-facts")


def test_create_a_guest_link_with_every_option_then_delete_it(person, site, small_clinic, step):
    clinic = small_clinic
    clinician = open_the_study(person, site, clinic)
    panel = clinician.locator("#guest-links")
    expect(panel).to_be_hidden()
    clinician.get_by_role("link", name="Guest links").click()
    expect(panel.get_by_role("heading", name="Guest links")).to_be_visible()
    expect(panel.get_by_text("No guest links for this study yet.")).to_be_visible()

    # 'New Guest Link' toggles the parameters.
    form = panel.locator("#guest-link-form")
    new_link = panel.get_by_role("button", name="New guest link")
    expect(form).to_be_hidden()
    new_link.click()
    expect(form).to_be_visible()
    new_link.click()
    expect(form).to_be_hidden()
    new_link.click()
    expect(form).to_be_visible()

    # Every parameter of the guide.
    labelled(form, "Max uses").fill("2")
    expect(form.get_by_label("7 days")).to_be_checked()  # the default expiry
    custom = labelled(form, "Custom expiry")
    expect(custom).to_be_hidden()
    form.get_by_label("Custom date and time").check()
    expect(custom).to_be_visible()
    form.get_by_label("24 hours").check()
    expect(custom).to_be_hidden()
    labelled(form, "Password").fill(GUEST_PASSWORD)
    labelled(form, "Max password attempts").fill("3")
    form.get_by_label("Password is the patient's date of birth (YYYYMMDD)").check()
    labelled(form, "Recipient email").fill("guest@example.net")
    labelled(form, "Message").fill("The CT from this morning, as promised.")
    labelled(form, "Recipient mobile").fill("07911 123456")
    form.get_by_label("Email me each time the link is opened").check()
    form.get_by_label("Include priors (the patient's earlier studies in this worklist)").check()
    step("every parameter filled", clinician)
    form.get_by_role("button", name="Create", exact=True).click()

    expect(clinician.locator(".messages")).to_contain_text(
        "Guest link created. Copy it from the list below."
    )
    expect(panel).to_be_visible()  # the page comes back with the panel open
    item = panel.locator(".gl-item")
    expect(item).to_have_count(1)
    expect(item.locator("[data-gl-state]")).to_have_text("Active")
    expect(item).to_contain_text("Created")
    expect(item).to_contain_text("by Dr Morgan Lee")
    expect(facts(item)).to_contain_text(re.compile(r"Uses\s*0 of 2"))
    expect(facts(item)).to_contain_text(re.compile(r"Password\s*Password · 0 of 3 wrong attempts"))
    # Where it was sent, and that it went (issue 16: the delivery state of each message).
    expect(facts(item)).to_contain_text(
        re.compile(
            r"Sent to\s*Sent\s*Email to guest@example\.net[\s\S]*Sent\s*SMS to \+447911123456"
        )
    )
    expect(facts(item)).to_contain_text(
        re.compile(r"Options\s*View notification · includes priors")
    )
    expect(facts(item)).to_contain_text(re.compile(r"Last opened\s*never"))
    step("the link in the list", clinician)

    # The link: the same URL in the panel, in the recipient's email and in their SMS.
    url = item.get_by_label("Guest link URL")
    link = GuestLink.objects.get()
    expect(url).to_have_value(f"{site.url}{link.get_absolute_url()}")
    email = the_email(to="guest@example.net", subject="shared medical images with you")
    assert link_in(email.body, path="/g/") == url.input_value()
    assert "The CT from this morning, as promised." in email.body
    assert "protected by a password" in email.body and GUEST_PASSWORD not in email.body
    assert "19700517" not in email.body  # never the birth date either
    [sms] = sms_texts(to="+447911123456")
    assert link_in(sms, path="/g/") == url.input_value()
    item.get_by_role("button", name="Copy").click()
    expect(item.locator(".gl-copied")).to_have_text("Copied")

    # A second link: a custom expiry, the birth date as the password, nobody to send it to.
    new_link.click()
    form.get_by_label("Custom date and time").check()
    zone = ZoneInfo("Europe/London")  # the organisation's time zone
    until = timezone.localtime(timezone.now() + timedelta(days=3), zone).replace(second=0)
    custom.fill(until.strftime("%Y-%m-%dT%H:%M"))
    form.get_by_label("Password is the patient's date of birth (YYYYMMDD)").check()
    form.get_by_role("button", name="Create", exact=True).click()
    expect(panel.locator(".gl-item")).to_have_count(2)
    newest = panel.locator(".gl-item").first
    expect(facts(newest)).to_contain_text(
        re.compile(rf"Expires\s*{until.strftime('%d/%m/%Y %H:%M')}")
    )
    expect(facts(newest)).to_contain_text(
        re.compile(r"Password\s*Patient's date of birth · 0 of 5 wrong attempts")
    )
    expect(facts(newest)).to_contain_text(re.compile(r"Sent to\s*not sent"))
    expect(facts(newest)).to_contain_text(
        re.compile(r"Options\s*No view notification · this study only")
    )
    step("two links", clinician)

    # Deleting: the trash can, then OK in the confirmation.
    clinician.once("dialog", lambda dialog: dialog.accept())
    item = panel.locator(".gl-item").filter(has_text="guest@example.net")
    item.get_by_role("button", name=re.compile("^Delete guest link")).click()
    expect(clinician.locator(".messages")).to_contain_text(
        "Guest link deleted: it no longer opens, also for anyone viewing it now."
    )
    expect(item.locator("[data-gl-state]")).to_have_text("Deleted")
    expect(item.get_by_label("Guest link URL")).to_have_count(0)  # nothing left to copy
    step("deleted", clinician)


@pytest.mark.parametrize("device", ["desktop"], indirect=True)
def test_a_form_error_never_loses_the_password(person, site, small_clinic, step):
    clinician = open_the_study(person, site, small_clinic)
    clinician.get_by_role("link", name="Guest links").click()
    clinician.get_by_role("button", name="New guest link").click()
    form = clinician.locator("#guest-link-form")
    labelled(form, "Password").fill(GUEST_PASSWORD)
    labelled(form, "Recipient mobile").fill("12")
    form.get_by_role("button", name="Create", exact=True).click()
    mobile = labelled(clinician, "Recipient mobile")
    expect(mobile).to_have_accessible_description(re.compile("Enter a valid phone number"))
    step("the mobile is refused", clinician)

    mobile.fill("07911 123456")
    clinician.get_by_role("button", name="Create", exact=True).click()
    clinician.wait_for_load_state()
    password_error = clinician.locator("#id_gl-password_error")
    if password_error.count():  # refused until the password is typed again: fine, said there
        expect(password_error).to_be_visible()
        labelled(clinician, "Password").fill(GUEST_PASSWORD)
        clinician.get_by_role("button", name="Create", exact=True).click()
    expect(clinician.locator(".messages")).to_contain_text("Guest link created.")
    item = clinician.locator("#guest-links .gl-item")
    expect(item).to_have_count(1)
    expect(facts(item)).to_contain_text(
        re.compile(r"Password\s*Password · 0 of 5"), timeout=PRESENT_MS
    )


@pytest.mark.parametrize(
    "device",
    [
        "desktop",
        "phone",
    ],
    indirect=True,
)
def test_the_guest_links_button_shows_the_panel_heading_with_several_links(
    person, site, small_clinic
):
    for _ in range(4):
        services.guestlink_create(
            actor=small_clinic.clinician, study=small_clinic.study, worklist=small_clinic.radiology
        )
    clinician = open_the_study(person, site, small_clinic)
    clinician.get_by_role("link", name="Guest links").click()
    panel = clinician.locator("#guest-links")
    expect(panel.locator(".gl-item")).to_have_count(4)
    heading = panel.get_by_role("heading", name="Guest links")
    expect(heading).to_be_visible()
    expect(heading).to_be_in_viewport(timeout=PRESENT_MS)  # scrolled by the click, at once
    expect(panel.get_by_role("button", name="New guest link")).to_be_in_viewport()


def test_the_study_link_icon_in_the_worklist_opens_the_guest_link_panel(person, site, small_clinic):
    clinic = small_clinic
    clinician = person("clinician")
    log_in(clinician, site, "morgan", PASSWORD)
    find_study(clinician, "okafor", clinic.study, count="2 studies")
    # 2. Click the study link icon
    study_row(clinician, clinic.study).get_by_role(
        "link", name=re.compile("guest link", re.I)
    ).click(timeout=PRESENT_MS)
    panel = clinician.locator("#guest-links")
    expect(panel.get_by_role("heading", name="Guest links")).to_be_in_viewport()
    expect(clinician.get_by_role("heading", level=1)).to_have_text(
        clinic.study.patient_display_name
    )
    # 3. Click 'New Guest Link'
    panel.get_by_role("button", name="New guest link").click()
    expect(labelled(panel, "Max uses")).to_be_visible()
