"""Every page names an icon that exists, and /favicon.ico answers: no 404 on any page load."""

import pytest
from django.urls import reverse

from guestlinks import services as guestlink_services
from tests.e2e.conftest import log_in
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)


def test_no_request_of_a_page_load_is_a_404(page, live_server, owner, study, worklist):
    link = guestlink_services.guestlink_create(actor=owner, study=study, worklist=worklist)
    failed: list[str] = []
    page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)

    log_in(page, live_server, "owner", PASSWORD)
    pages = [
        reverse("worklists:detail", args=[worklist.public_id]),
        reverse("studies:detail", args=[study.public_id]),
        link.get_absolute_url(),  # a guest page, under its own Content-Security-Policy
    ]
    for path in pages:
        page.goto(f"{live_server.url}{path}")
        page.wait_for_load_state("networkidle")
        # Headless Chromium fetches no icon by itself: fetch the one the page names, as a
        # browser with a tab strip does.
        icon = page.locator("link[rel=icon]")
        href = icon.get_attribute("href")
        assert href, f"{path} names no icon"
        response = page.request.get(f"{live_server.url}{href}")
        assert response.ok and response.headers["content-type"].startswith("image/svg+xml")
    assert failed == []

    # Bookmarks, feed readers and old browsers ask for /favicon.ico whatever the page says.
    response = page.request.get(f"{live_server.url}/favicon.ico")
    assert response.ok and response.headers["content-type"].startswith("image/svg+xml")
