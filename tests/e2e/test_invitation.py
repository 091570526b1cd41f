"""An email share to an address without an account: the recipient opens the link from the
outbox in a fresh browser, registers (or logs in and accepts) and finds the study in their
personal worklist. Desktop and phone; the forms are posted by Chromium with its real headers."""

import re
from urllib.parse import urlsplit

import pytest
from django.core import mail
from playwright.sync_api import expect

from cimar_share.settings import site_url_from_address
from sharing.services import ShareTarget, study_share
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

DEVICES = {
    "desktop": {"viewport": {"width": 1366, "height": 900}},
    "phone": {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True},
}
NEW_PASSWORD = "Tulip-orbit-9-lantern"


def invite_by_email(owner, worklist, study, address: str) -> str:
    """Share through the email channel (its message is delivered on commit) and return the
    link in the email that arrived."""
    study_share(
        actor=owner, study=study, source_worklist=worklist, targets=[ShareTarget("email", address)]
    )
    [email] = [message for message in mail.outbox if message.to == [address]]
    match = re.search(r"https?://\S+/sharing/invite/\S+/", str(email.body))
    assert match, email.body
    return match.group(0)


@pytest.mark.parametrize("device", DEVICES)
def test_register_from_the_emailed_link(
    new_page, live_server, settings, owner, worklist, study, device
):
    # As `make run` has it: no SITE_URL, the links follow the address the server listens on.
    address = urlsplit(live_server.url)
    settings.SITE_URL = site_url_from_address(address.hostname or "", str(address.port))
    link = invite_by_email(owner, worklist, study, "new.doc@clinic.example")
    assert link.startswith(f"{live_server.url}/")

    page = new_page(**DEVICES[device])
    page.goto(link)
    expect(page.get_by_role("heading", name="Create your account")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/sharing/invitation/$"))  # the token is gone
    expect(page.get_by_label("Email address")).to_have_value("new.doc@clinic.example")
    page.get_by_label("First name").fill("Nia")
    page.get_by_label("Last name").fill("Okafor")
    page.get_by_label(re.compile(r"^Password\W*$")).fill(NEW_PASSWORD)
    page.get_by_label("Password again").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Create account").click()

    expect(page.get_by_text("Welcome to Cimar Share.")).to_be_visible()
    expect(page.get_by_role("heading", name="Nia Okafor (personal)")).to_be_visible()
    page.get_by_role("link", name=study.patient_display_name).first.click()
    expect(page.get_by_role("heading", name=study.patient_display_name)).to_be_visible()


@pytest.mark.parametrize("device", DEVICES)
def test_an_existing_user_logs_in_and_adds_it_to_their_worklist(
    new_page, live_server, owner, worklist, study, device
):
    link = invite_by_email(owner, worklist, study, "late@clinic.example")
    # They opened an account some other way after the invitation went out.
    UserFactory(
        username="late",
        email="late@clinic.example",
        first_name="Lee",
        last_name="Tate",
        organisation=owner.organisation,  # a colleague: the partnership rule allows it
    )

    page = new_page(**DEVICES[device])
    page.goto(link)
    expect(page.get_by_role("heading", name="Log in to accept")).to_be_visible()
    page.get_by_role("link", name="Log in").click()
    page.get_by_label("Username").fill("late")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="A study shared with you")).to_be_visible()
    page.get_by_role("button", name="Add it to my personal worklist").click()

    expect(page.get_by_text("1 shared study added to your personal worklist.")).to_be_visible()
    expect(page.get_by_role("heading", name="Lee Tate (personal)")).to_be_visible()
    expect(page.get_by_role("link", name=study.patient_display_name).first).to_be_visible()
