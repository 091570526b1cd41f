"""The guest-link panel: only a link that still opens offers Copy, and Create says it is busy
and never sends the form twice."""

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from guestlinks import services as guestlink_services
from guestlinks.models import GuestLink
from tests.e2e.conftest import log_in
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)


def study_url(live_server, study, worklist):
    path = reverse("studies:detail", args=[study.public_id])
    return f"{live_server.url}{path}?worklist={worklist.public_id}&panel=guest-links"


def test_only_links_that_still_open_offer_copy(page, live_server, owner, study, worklist):
    def make(email, **state):
        link = guestlink_services.guestlink_create(
            actor=owner, study=study, worklist=worklist, email=email, max_uses=2
        )
        GuestLink.objects.filter(pk=link.pk).update(**state)

    # Oldest first: the panel lists the newest first.
    make("expired@example.net", expires_at=timezone.now() - datetime.timedelta(minutes=1))
    make("locked@example.net", locked_at=timezone.now(), password_failures=5)
    make("used@example.net", use_count=2)
    make("active@example.net")

    log_in(page, live_server, "owner", PASSWORD)
    page.goto(study_url(live_server, study, worklist))
    items = page.locator("#guest-links .gl-item")
    expect(items).to_have_count(4)
    for index, (state, email) in enumerate(
        [
            ("Active", "active@example.net"),
            ("Used up", "used@example.net"),
            ("Locked after failed attempts", "locked@example.net"),
            ("Expired", "expired@example.net"),
        ]
    ):
        item = items.nth(index)
        expect(item.locator("[data-gl-state]")).to_have_text(state)
        expect(item).to_contain_text(email)
        if state == "Active":
            expect(item.get_by_role("button", name="Copy")).to_be_visible()
            expect(item.get_by_label("Guest link URL")).to_be_visible()
        else:
            expect(item.get_by_role("button", name="Copy")).to_have_count(0)
            expect(item.get_by_label("Guest link URL")).to_have_count(0)
            expect(item).to_contain_text("This link no longer opens")


def test_create_shows_it_is_busy_and_sends_once(page, live_server, owner, study, worklist):
    log_in(page, live_server, "owner", PASSWORD)
    page.goto(study_url(live_server, study, worklist))
    page.get_by_role("button", name="New guest link").click()
    page.get_by_label("Recipient email").fill("guest@example.net")

    # The first answer is "204 No Content": the browser stays on the page, as it does while a
    # slow server works, and the test can look at the form in that moment.
    sent: list[str] = []

    def no_content(route):
        sent.append(route.request.url)
        route.fulfill(status=204)

    page.route("**/g/manage/**/new/", no_content)
    page.get_by_role("button", name="Create", exact=True).click()
    form = page.locator("#guest-link-form")
    expect(form).to_have_attribute("aria-busy", "true")
    expect(page.get_by_role("button", name="Creating…")).to_be_disabled()
    # A second press (or Enter in a field) sends nothing more.
    form.evaluate("f => f.requestSubmit()")
    page.get_by_label("Recipient email").press("Enter")
    expect(page.get_by_role("button", name="Creating…")).to_be_disabled()
    assert sent == [sent[0]]
    page.unroute("**/g/manage/**/new/")

    # For real: the link is made once, and the page says so.
    page.reload()
    page.get_by_role("button", name="New guest link").click()
    page.get_by_label("Recipient email").fill("guest@example.net")
    page.get_by_role("button", name="Create", exact=True).click()
    expect(page.locator("li.message", has_text="Guest link created")).to_be_visible()
    assert len(sent) == 1 and GuestLink.objects.count() == 1
