"""The sender sees what did not arrive (issue 16 item 6), at desktop and phone size: an
invitation and a guest link whose emails the recipient's server refused (550) show as "Not
delivered" with the reason in plain words under Share history and in the guest-link list;
"Send again" sends each once more and the page then says "Sent"."""

import smtplib

import pytest
from playwright.sync_api import expect

from guestlinks import services as guestlink_services
from sharing.services import ShareTarget, study_share
from tests.e2e.conftest import log_in
from tests.e2e.journeys import find_study, open_study
from tests.factories import PASSWORD
from tests.notifications.backends import ScriptedBackend

pytestmark = pytest.mark.django_db(transaction=True)

INVITED = "new.doc@clinic.example"
GUEST = "guest@home.example"


def refused(address: str) -> smtplib.SMTPRecipientsRefused:
    return smtplib.SMTPRecipientsRefused({address: (550, b"5.1.1 No such user")})


def test_the_sender_sees_failed_deliveries_and_sends_them_again(
    person, site, small_clinic, step, settings
):
    clinic = small_clinic
    settings.EMAIL_BACKEND = "tests.notifications.backends.ScriptedBackend"
    ScriptedBackend.attempts = 0
    ScriptedBackend.failures = [refused(INVITED)]
    study_share(
        actor=clinic.clinician,
        study=clinic.study,
        source_worklist=clinic.radiology,
        targets=[ShareTarget("email", INVITED)],
    )
    ScriptedBackend.failures = [refused(GUEST)]
    guestlink_services.guestlink_create(
        actor=clinic.clinician, study=clinic.study, worklist=clinic.radiology, email=GUEST
    )
    assert ScriptedBackend.failures == []  # both refused; the notices to the sender went

    clinician = person("clinician")
    log_in(clinician, site, "morgan", PASSWORD)
    find_study(clinician, "okafor", clinic.study, count="2 studies")
    open_study(clinician, clinic.study)

    history = clinician.locator("#share-history")
    invitation = history.locator(".invitations li").filter(has_text=INVITED)
    expect(invitation.get_by_text("Not delivered")).to_be_visible()
    expect(
        invitation.get_by_text("The recipient's mail server refused the address (550 5.1.1")
    ).to_be_visible()
    step("invitation not delivered", clinician)
    invitation.get_by_role("button", name=f"Send again the invitation to {INVITED}").click()
    expect(
        clinician.get_by_text(f"The invitation to {INVITED} is being sent again.")
    ).to_be_visible()
    invitation = clinician.locator("#share-history .invitations li").filter(has_text=INVITED)
    expect(invitation.locator(".badge", has_text="Sent")).to_be_visible()
    expect(invitation.get_by_text("Not delivered")).to_have_count(0)
    step("invitation sent again", clinician)

    clinician.get_by_role("link", name="Guest links").first.click()
    panel = clinician.locator("#guest-links")
    expect(panel.get_by_text(f"Email to {GUEST}")).to_be_visible()
    expect(panel.get_by_text("Not delivered")).to_be_visible()
    expect(panel.get_by_text("refused the address (550 5.1.1 No such user)")).to_be_visible()
    step("guest link not delivered", clinician)
    panel.get_by_role("button", name="Send again this guest link").click()
    expect(clinician.get_by_text("The guest link is being sent again.")).to_be_visible()
    panel = clinician.locator("#guest-links")
    expect(panel.locator(".deliveries .badge", has_text="Sent")).to_be_visible()
    expect(panel.get_by_role("button", name="Send again this guest link")).to_have_count(0)
    step("guest link sent again", clinician)
