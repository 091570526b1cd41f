"""A clinician who may view a study's guest links reads its access history on the study page:
a guest's open, from the guest's own phone, with its address and browser; then the whole
history a page at a time. Desktop and phone (the clinician's size; the guest is on a phone)."""

import re

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from audit.models import AuditEvent
from audit.services import record_event
from guestlinks import services as guestlink_services
from tests.e2e.conftest import log_in
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_study_page_shows_who_opened_it(person, step, live_server, owner, study, worklist):
    link = guestlink_services.guestlink_create(actor=owner, study=study, worklist=worklist)
    guest = person("guest", device="phone")
    guest.goto(f"{live_server.url}{link.get_absolute_url()}")
    guest.get_by_role("button", name="Open study").click()
    expect(guest).to_have_url(re.compile(r"/view/"))

    clinician = person("clinician")
    log_in(clinician, live_server, "owner", PASSWORD)
    path = reverse("studies:detail", args=[study.public_id])
    clinician.goto(f"{live_server.url}{path}?worklist={worklist.public_id}")
    history = clinician.get_by_role("region", name="Access history")
    expect(history).to_be_visible()
    guest_open = history.locator('[data-history-event="guestlink_opened"]')
    expect(guest_open).to_contain_text("Guest link opened")
    expect(guest_open).to_contain_text("127.0.0.1")
    expect(guest_open).to_contain_text("Android")  # the guest's phone, as its browser said
    expect(history.locator('[data-history-event="study_opened"]').first).to_contain_text(
        owner.display_name
    )
    # The card fits the screen: nothing scrolls sideways on a phone.
    assert clinician.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    step("access history on the study page", clinician)

    for _ in range(12):
        record_event(
            action=AuditEvent.Action.IMAGES_VIEWED,
            actor=owner,
            study_instance_uid=study.study_instance_uid,
        )
    clinician.reload()
    more = clinician.get_by_role("link", name="See the whole access history")
    expect(more).to_be_visible()
    more.click()
    expect(clinician.get_by_role("heading", name="Access history", level=1)).to_be_visible()
    expect(clinician.locator("[data-history-event]")).to_have_count(
        AuditEvent.objects.filter(study_instance_uid=study.study_instance_uid).count()
    )
    assert clinician.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    step("the whole access history", clinician)
