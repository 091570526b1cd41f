"""The guest-link panel says whether the link's email and SMS went: queued, sent, or not
delivered with the reason, and "Send again" for whoever may manage the link."""

import smtplib

import pytest
from django.urls import reverse

from notifications.models import OutboundMessage
from tests.notifications.backends import ScriptedBackend

pytestmark = pytest.mark.django_db

ADDRESS = "guest@home.example"


@pytest.fixture
def refused_link(settings, make_link, django_capture_on_commit_callbacks):
    settings.EMAIL_BACKEND = "tests.notifications.backends.ScriptedBackend"
    ScriptedBackend.attempts = 0
    ScriptedBackend.failures = [
        smtplib.SMTPRecipientsRefused({ADDRESS: (550, b"5.2.1 Mailbox disabled")})
    ]
    with django_capture_on_commit_callbacks(execute=True):
        return make_link(email=ADDRESS)


def panel(login, user, study, worklist):
    url = reverse("studies:detail", args=[study.public_id]) + f"?worklist={worklist.public_id}"
    return login(user).get(url).content.decode()


def test_the_panel_shows_the_failed_email_and_send_again(
    login, owner, study, worklist, refused_link
):
    body = panel(login, owner, study, worklist)
    assert f"Email to {ADDRESS}" in body and "Not delivered" in body
    assert "refused the address (550 5.2.1 Mailbox disabled)" in body
    assert reverse("guestlinks:send_again", args=[refused_link.public_id]) in body
    notice = OutboundMessage.objects.get(template="delivery_failed")
    assert notice.recipient == owner.email and "panel=guest-links" in notice.context["page_path"]


def test_send_again_sends_it(
    login, owner, study, worklist, refused_link, django_capture_on_commit_callbacks
):
    url = reverse("guestlinks:send_again", args=[refused_link.public_id])
    with django_capture_on_commit_callbacks(execute=True):
        response = login(owner).post(url)
    assert response.status_code == 302
    assert OutboundMessage.objects.get(template="guestlink_invite").status == "sent"
    body = panel(login, owner, study, worklist)
    assert "Not delivered" not in body and url not in body


def test_send_again_checks_method_and_permission(login, owner, read_only, outsider, refused_link):
    url = reverse("guestlinks:send_again", args=[refused_link.public_id])
    assert login(owner).get(url).status_code == 405
    assert login(outsider).post(url).status_code == 404
    assert login(read_only).post(url).status_code == 403
    assert OutboundMessage.objects.get(template="guestlink_invite").status == "failed"


def test_a_deleted_link_is_not_sent_again(login, owner, refused_link):
    from guestlinks.services import guestlink_delete

    guestlink_delete(actor=owner, link=refused_link)
    url = reverse("guestlinks:send_again", args=[refused_link.public_id])
    response = login(owner).post(url, follow=True)
    assert "no longer opens" in response.content.decode()
    assert OutboundMessage.objects.get(template="guestlink_invite").status == "failed"
