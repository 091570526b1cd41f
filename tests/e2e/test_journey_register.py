"""The guide's email channel to someone without an account: "the recipient will be prompted to
create an account before having access to the study". The clinician shares by email; the
recipient opens the link in the invitation email in a fresh browser (at desktop and phone
size), registers, and finds the study in their personal worklist; later they log in with their
address. A person who already has an account adds an invitation to theirs (desktop only: the
same one-button page). The clinician shares at desktop size in both.

The invitation page sends `Referrer-Policy: no-referrer`, so Chromium posts its forms with
`Origin: null`: the browser's real headers, which issue 9 item 1 must accept.
"""

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import log_in
from tests.e2e.journeys import (
    expect_worklist,
    find_study,
    labelled,
    link_in,
    share_selected,
    the_email,
)
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)

NEWCOMER = "sam.rivera@example.net"
NEW_PASSWORD = "lantern-orchid-731"


def share_by_email(person, site, clinic, step, address):
    clinician = person("clinician", device="desktop")
    log_in(clinician, site, "morgan", PASSWORD)
    find_study(clinician, "okafor", clinic.study, count="2 studies")
    dialog = share_selected(clinician, clinic.study)
    dialog.get_by_label("Email addresses").fill(address)
    dialog.get_by_role("button", name="Share", exact=True).click()
    expect(dialog.locator(".outcome")).to_have_text(
        re.compile(
            rf"^\s*Invitation sent\s+{re.escape(address)} No account uses this address yet: "
            r"an invitation to register was sent\.\s*$"
        )
    )
    step("invitation sent", clinician)
    email = the_email(to=address, subject="shared a study with you")
    assert "Dr Morgan Lee of St Elsewhere shared a medical imaging study with you" in email.body
    return link_in(email.body, path="/sharing/invite/")


def submit(page, button_name):
    """Press a form's button and return the response to its POST, so that a refusal (a 403)
    fails the journey at once, with the page's words."""
    with page.expect_response(lambda response: response.request.method == "POST") as posted:
        page.get_by_role("button", name=button_name).click()
    response = posted.value
    origin = response.request.header_value("origin")
    assert response.status < 400, (
        f"{button_name!r} was refused with {response.status} (the browser sent Origin: "
        f"{origin}): {page.locator('body').inner_text()[:300]}"
    )
    return response


def test_email_share_to_an_unknown_address_then_register_from_the_email(
    person, site, small_clinic, step
):
    clinic = small_clinic
    link = share_by_email(person, site, clinic, step, NEWCOMER)

    newcomer = person("newcomer")  # a fresh browser: no session, no cookies
    newcomer.goto(link)
    expect(newcomer.get_by_role("heading", name="Create your account")).to_be_visible()
    expect(newcomer.get_by_text("Dr Morgan Lee of St Elsewhere shared a study")).to_be_visible()
    expect(newcomer.get_by_label("Email address")).to_have_value(NEWCOMER)
    labelled(newcomer, "First name").fill("Sam")
    labelled(newcomer, "Last name").fill("Rivera")
    labelled(newcomer, "Password").fill(NEW_PASSWORD)
    labelled(newcomer, "Password again").fill(NEW_PASSWORD)
    step("registration form filled", newcomer)
    submit(newcomer, "Create account")
    expect(newcomer.get_by_text("Welcome to Cimar Share.")).to_be_visible()
    expect_worklist(newcomer, "Sam Rivera (personal)", clinic.study)
    step("the study in the personal worklist", newcomer)

    # Next time: log in with the address and the password chosen.
    newcomer.get_by_role("button", name="Log out").click()
    log_in(newcomer, site, NEWCOMER, NEW_PASSWORD)
    expect_worklist(newcomer, "Sam Rivera (personal)", clinic.study)


@pytest.mark.parametrize("device", ["desktop"], indirect=True)
def test_an_existing_user_adds_an_invitation_to_their_personal_worklist(person, site, clinic, step):
    link = share_by_email(person, site, clinic, step, "ada.home@example.net")
    # An administrator then gave Ada's account the address the invitation went to: only the
    # invited address may accept it.
    type(clinic.physician).objects.filter(pk=clinic.physician.pk).update(
        email="ada.home@example.net"
    )
    physician = person("ada")
    log_in(physician, site, "ada", PASSWORD)
    physician.goto(link)
    expect(physician.get_by_role("heading", name="A study shared with you")).to_be_visible()
    submit(physician, "Add it to my personal worklist")
    expect(physician.get_by_text("1 shared study added to your personal worklist.")).to_be_visible()
    expect_worklist(physician, "Ada Lovelace (personal)", clinic.study)
