"""One guest link for several studies of a patient, at desktop and phone size: on the worklist
the clinician selects the patient's two studies, 'Create guest link', sees both listed, sets a
password and creates it; the link shows on the study page. A recipient in a fresh browser
opens it, sees the study it opens on, and switches to the other study of the link."""

import re

import pytest
from playwright.sync_api import expect

from guestlinks.models import GuestLink
from tests.e2e.conftest import log_in
from tests.e2e.journeys import expect_image_loaded, find_study, labelled, study_row
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)

GUEST_PASSWORD = "harbour-lights-9"


def test_select_two_studies_create_one_link_and_switch_between_them(
    person, site, small_clinic, step, device
):
    clinic = small_clinic
    clinician = person("clinician")
    log_in(clinician, site, "morgan", PASSWORD)
    find_study(clinician, "okafor", clinic.study, count="2 studies")

    # Both studies of the patient, then the selection bar's action.
    for study in (clinic.study, clinic.prior):
        study_row(clinician, study).get_by_role("checkbox").check()
    selection = clinician.get_by_role("group", name="With the selected studies")
    expect(selection).to_contain_text("2 selected")
    step("two studies selected", clinician)
    selection.get_by_role("button", name="Create guest link").click()

    expect(clinician.get_by_role("heading", name="New guest link for")).to_contain_text(
        clinic.study.patient_display_name
    )
    listed = clinician.get_by_role("list", name="Studies in this link").get_by_role("listitem")
    expect(listed).to_have_count(2)
    expect(listed.first).to_contain_text("20/11/2026")  # the newest first: the link opens there
    expect(listed.nth(1)).to_contain_text("03/02/2024")
    labelled(clinician, "Password").fill(GUEST_PASSWORD)
    step("the form for two studies", clinician)
    clinician.get_by_role("button", name="Create", exact=True).click()

    expect(clinician.locator(".messages")).to_contain_text(
        "Guest link created for 2 studies. Copy it from the list below."
    )
    expect(
        clinician.get_by_role("heading", level=1, name=clinic.study.patient_display_name)
    ).to_be_visible()
    item = clinician.locator("#guest-links .gl-item")
    expect(item).to_have_count(1)
    expect(item.locator(".gl-facts")).to_contain_text(
        re.compile(r"Options\s*No view notification · 2 studies of this patient")
    )
    url = item.get_by_label("Guest link URL")
    link = GuestLink.objects.get()
    expect(url).to_have_value(f"{site.url}{link.get_absolute_url()}")
    step("the link", clinician)

    # The recipient, in a browser of their own.
    guest = person("guest")
    guest.goto(url.input_value())
    labelled(guest, "Password").fill(GUEST_PASSWORD)
    guest.get_by_role("button", name="Open study").click()
    banner = guest.get_by_role("banner", name="Patient")
    expect(banner).to_contain_text(clinic.study.patient_display_name)
    image = guest.locator("#viewer-image")
    expect_image_loaded(image)
    expect(image).to_have_attribute("src", re.compile(clinic.study.study_instance_uid))
    step("the link opens on the newest study", guest)

    if device == "phone":  # the studies are in a drawer over the image
        guest.get_by_role("button", name="Series & priors").click()
    studies = guest.locator("#viewer-study-list").get_by_role("button")
    expect(studies).to_have_count(2)
    studies.filter(has_text="03/02/2024").click()
    expect(image).to_have_attribute("src", re.compile(clinic.prior.study_instance_uid))
    expect_image_loaded(image)
    expect(guest.locator("#overlay-series")).to_contain_text("Slice 1/2")
    step("switched to the other study", guest)

    if device == "phone":
        guest.get_by_role("button", name="Series & priors").click()
    studies.filter(has_text="20/11/2026").click()
    expect(image).to_have_attribute("src", re.compile(clinic.study.study_instance_uid))
    expect_image_loaded(image)
    expect(guest.locator("#overlay-series")).to_contain_text("Slice 1/12")
