"""After a guest-link form error, coming back to that page (back, reload, Enter in the address
bar: a GET of the URL the form was posted to) shows the study's guest-link panel, not a blank
405 page."""

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from tests.e2e.conftest import log_in
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)


def test_returning_to_a_form_error_page_lands_on_the_panel(page, live_server, owner, study):
    log_in(page, live_server, "owner", PASSWORD)
    page.goto(f"{live_server.url}{reverse('studies:detail', args=[study.public_id])}")
    page.get_by_role("link", name="Guest links").click()
    page.get_by_role("button", name="New guest link").click()
    page.get_by_label("Recipient mobile").fill("not a number")
    page.get_by_role("button", name="Create", exact=True).click()
    expect(page.get_by_role("heading", name="New guest link for")).to_be_visible()

    page.goto(page.url)  # what the back button or a reload asks for: a GET of this URL
    panel = page.locator("#guest-links")
    expect(panel.get_by_role("heading", name="Guest links")).to_be_visible()
    expect(panel.get_by_role("button", name="New guest link")).to_be_visible()
