"""The journey of "How to share a study", at desktop and phone size: log in, find the study,
select it, Actions, Share through each of the six channels; then each recipient logs in (in a
fresh browser) and finds the study in the worklist it was shared into."""

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import log_in
from tests.e2e.journeys import (
    expect_worklist,
    find_study,
    link_in,
    open_actions_share,
    open_study,
    share_selected,
    the_email,
)
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)


def test_share_through_each_channel_and_every_recipient_finds_the_study(person, site, clinic, step):
    study, patient = clinic.study, clinic.study.patient_display_name
    clinician = person("clinician")
    log_in(clinician, site, "morgan", PASSWORD)
    expect_worklist(clinician, "Radiology", study)
    find_study(clinician, "okafor", study, count="2 studies")
    step("found the study", clinician)

    # 1. Select the study  2. Click the 'Actions' dropdown  3. Select 'Share'
    dialog = share_selected(clinician, study)

    # 4. Select how you want to share the study: every channel of the guide at once.
    dialog.get_by_role("group", name="Organisations").get_by_label("Northfield Clinic").check()
    dialog.get_by_role("group", name="Locations").get_by_label("Emergency").check()
    dialog.get_by_role("group", name="Groups").get_by_label("Chest MDT").check()
    dialog.get_by_role("group", name="Physicians").get_by_label("Ada Lovelace").check()
    code = clinic.cardiology.share_code
    dialog.get_by_label("Share codes").fill(code.lower())  # typed as a person reads it out
    expect(dialog.locator("#share-code-preview")).to_have_text(
        f"{code[:4]}-{code[4:]} is Cardiology (location worklist) at Northfield Clinic."
    )
    dialog.get_by_label("Email addresses").fill(clinic.colleague.email)
    dialog.get_by_label("Message (optional)").fill("For Thursday's meeting")
    step("every channel chosen", clinician)

    # 5. Press 'share'
    dialog.get_by_role("button", name="Share", exact=True).click()
    expect(dialog.get_by_text("Done. What happened for each recipient:")).to_be_visible()
    # One line per recipient, in the dialog's order.
    expect(dialog.locator(".outcome")).to_have_text(
        [
            re.compile(rf"^\s*Shared\s+{re.escape(label)}\s*$")
            for label in (
                "Northfield Clinic",
                "Emergency",
                "Chest MDT",
                "Ada Lovelace",
                f"Cardiology ({code[:4]}-{code[4:]}, Northfield Clinic)",
                clinic.colleague.email,
            )
        ]
    )
    step("what happened for each recipient", clinician)
    dialog.get_by_role("button", name="Done").click()
    expect(dialog).to_be_hidden()

    # Each recipient, in their own browser, finds the study in the worklist shared into.
    for username, worklist in clinic.recipients.items():
        recipient = person(username)
        log_in(recipient, site, username, PASSWORD)
        expect_worklist(recipient, worklist.name, study)
        step(f"{username} finds the study", recipient)
        if username == "grace":
            # Reached by email, she also follows the link in it.
            email = the_email(to=clinic.colleague.email, subject="shared a study with you")
            recipient.goto(link_in(email.body, path="/studies/"))
            expect(recipient.get_by_role("heading", level=1, name=patient)).to_be_visible()
            expect(recipient.get_by_role("navigation", name="Breadcrumb")).to_contain_text(
                "Grace Hopper (personal)"
            )
        recipient.close()


def test_share_from_the_study_pages_actions_menu(person, site, clinic, step):
    study = clinic.study
    clinician = person("clinician")
    log_in(clinician, site, "morgan", PASSWORD)
    find_study(clinician, "okafor", study, count="2 studies")
    open_study(clinician, study)
    step("the study page", clinician)

    dialog = open_actions_share(clinician)
    dialog.get_by_role("group", name="Physicians").get_by_label("Ada Lovelace").check()
    dialog.get_by_role("button", name="Share", exact=True).click()
    expect(dialog.locator(".outcome")).to_have_text(re.compile(r"^\s*Shared\s+Ada Lovelace"))
    step("shared", clinician)

    physician = person("ada")
    log_in(physician, site, "ada", PASSWORD)
    expect_worklist(physician, "Ada Lovelace (personal)", study)
