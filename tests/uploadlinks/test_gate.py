"""The recipient's gate: the shared link gate with an upload link behind it."""

import datetime

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from notifications.models import OutboundMessage
from tests.uploadlinks.conftest import open_gate
from uploadlinks import services
from uploadlinks.models import UploadLink, UploadLinkAccess

pytestmark = pytest.mark.django_db

UNAVAILABLE = "This link is no longer available"


def test_get_and_head_show_the_link_and_consume_nothing(client, make_link):
    link = make_link(max_uses=1, message="Send the CD please", email="a@example.org")
    for _ in range(3):
        response = client.get(link.get_absolute_url())
        assert response.status_code == 200
        assert client.head(link.get_absolute_url()).status_code == 200
    assert "Send the CD please" in response.content.decode()
    assert response["Referrer-Policy"] == "no-referrer" and "no-store" in response["Cache-Control"]
    link.refresh_from_db()
    assert (link.use_count, link.password_failures) == (0, 0)
    assert not UploadLinkAccess.objects.exists()
    assert client.get(reverse("uploadlinks:upload")).status_code == 404  # no session yet


def test_passing_the_gate_opens_the_upload_page_without_taking_a_use(client, make_link):
    link = make_link(max_uses=1)
    response = open_gate(client, link)
    assert response.status_code == 303 and response["Location"] == reverse("uploadlinks:upload")
    page = client.get(reverse("uploadlinks:upload"))
    assert page.status_code == 200
    assert link.token not in page.content.decode()
    assert b'type="file" multiple' in page.content and b"webkitdirectory" in page.content
    link.refresh_from_db()
    assert link.use_count == 0
    assert UploadLinkAccess.objects.get().outcome == "opened"
    assert AuditEvent.objects.filter(action="uploadlink_opened").count() == 1


def _make_unusable(link, state, owner):
    now = timezone.now()
    if state == "expired":
        UploadLink.objects.filter(pk=link.pk).update(expires_at=now - datetime.timedelta(seconds=1))
    elif state == "used_up":
        UploadLink.objects.filter(pk=link.pk).update(use_count=1)
    elif state == "locked":
        UploadLink.objects.filter(pk=link.pk).update(locked_at=now)
    elif state == "deleted":
        services.uploadlink_delete(actor=owner, link=link)
    elif state == "disabled":
        services.uploadlink_update(actor=owner, link=link, disabled=True)


@pytest.mark.parametrize(
    "state", ["expired", "used_up", "locked", "deleted", "disabled", "unknown"]
)
def test_every_unusable_link_gets_the_same_page(client, make_link, owner, state):
    link = make_link(max_uses=1)
    url = link.get_absolute_url()
    if state == "unknown":
        url = "/u/" + "A" * 43 + "/"
    else:
        _make_unusable(link, state, owner)
    for response in (client.get(url), client.post(url)):
        assert response.status_code == 404
        assert UNAVAILABLE in response.content.decode()
    assert client.get(reverse("uploadlinks:upload")).status_code == 404


def test_wrong_passwords_are_counted_and_lock_the_link(client, make_link, owner):
    link = make_link(password="right-password", max_password_attempts=3)
    first = open_gate(client, link, "wrong-1")
    assert first.status_code == 403 and "2 attempts left" in first.content.decode()
    assert open_gate(client, link, "wrong-2").status_code == 403
    assert open_gate(client, link, "wrong-3").status_code == 404  # the last one locks it
    link.refresh_from_db()
    assert link.state == "locked" and link.password_failures == 3
    assert open_gate(client, link, "right-password").status_code == 404
    locked = OutboundMessage.objects.get(template="uploadlink_locked")
    assert locked.recipient == owner.email
    assert UploadLinkAccess.objects.filter(outcome="wrong_password").count() == 3


def test_the_right_password_opens(client, make_link):
    link = make_link(password="right-password")
    assert open_gate(client, link, "right-password").status_code == 303
    link.refresh_from_db()
    assert link.password_failures == 0


def test_attempts_are_rate_limited_before_any_password_is_checked(client, make_link, settings):
    settings.UPLOADLINK_RATE_LIMIT_PER_IP = 2
    link = make_link(password="right-password", max_password_attempts=10)
    assert open_gate(client, link, "wrong").status_code == 403
    assert open_gate(client, link, "wrong").status_code == 403
    limited = open_gate(client, link, "right-password")
    assert limited.status_code == 429 and "Retry-After" in limited
    link.refresh_from_db()
    assert link.password_failures == 2


def test_guessing_tokens_is_limited_per_address(client, settings):
    settings.UPLOADLINK_RATE_LIMIT_GUESSES_PER_IP = 2
    statuses = [client.post("/u/" + f"{i}" * 43 + "/").status_code for i in range(4)]
    assert statuses == [404, 404, 429, 429]


def test_a_guest_link_token_does_not_open_an_upload_gate(client, make_link):
    link = make_link()
    assert client.get("/g/" + link.token + "/").status_code == 404


def test_csrf_is_checked_and_origin_null_accepted(make_link):
    link = make_link()
    browser = Client(enforce_csrf_checks=True)
    page = browser.get(link.get_absolute_url())
    token = page.cookies["csrftoken"].value
    refused = browser.post(link.get_absolute_url(), {}, HTTP_ORIGIN="null")
    assert refused.status_code == 403
    opened = browser.post(
        link.get_absolute_url(), {"csrfmiddlewaretoken": token}, HTTP_ORIGIN="null"
    )
    assert opened.status_code == 303
