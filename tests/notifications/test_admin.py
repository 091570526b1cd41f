import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from notifications.models import OutboundMessage
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, db):
    admin = UserFactory(username="admin", is_staff=True, is_superuser=True)
    client.force_login(admin)
    return client


def row(**fields):
    return OutboundMessage.objects.create(
        channel="email",
        recipient=fields.pop("recipient", "ada@example.org"),
        template="share_received",
        context={"sharer_name": "Dr Who", "study_path": "/studies/x/"},
        **fields,
    )


def test_list_filter_and_search(admin_client):
    row(status="failed", last_error="SMTPRecipientsRefused", recipient="gone@example.org")
    row(status="sent", sent_at=timezone.now(), recipient="fine@example.org")
    url = reverse("admin:notifications_outboundmessage_changelist")
    body = admin_client.get(url).content.decode()
    assert "gone@example.org" in body and "fine@example.org" in body
    body = admin_client.get(url, {"status__exact": "failed"}).content.decode()
    assert "gone@example.org" in body and "fine@example.org" not in body
    body = admin_client.get(url, {"q": "fine@"}).content.decode()
    assert "fine@example.org" in body and "gone@example.org" not in body


def test_send_again_action(admin_client, django_capture_on_commit_callbacks):
    failed = row(status="failed", attempts=5, last_error="boom")
    url = reverse("admin:notifications_outboundmessage_changelist")
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            url, {"action": "send_again", "_selected_action": [failed.pk]}, follow=True
        )
    assert "1 message(s) queued to send again." in response.content.decode()
    failed.refresh_from_db()
    assert failed.status == "sent" and len(mail.outbox) == 1


def test_messages_cannot_be_added_by_hand(admin_client):
    assert admin_client.get(reverse("admin:notifications_outboundmessage_add")).status_code == 403
