"""Fixtures for guest links: a link maker, an opener, and an SMS outbox per test."""

import pytest
from django.urls import reverse

from guestlinks import services
from notifications.models import OutboundMessage


@pytest.fixture(autouse=True)
def _sms_outbox(settings, tmp_path):
    settings.SMS_BACKEND = "notifications.sms_backends.OutboxBackend"
    settings.SMS_OUTBOX_DIR = tmp_path / "sms-outbox"


@pytest.fixture
def make_link(owner, study, worklist):
    """Create a link through the service, as the panel does (owner has every permission)."""

    def _make(**options):
        return services.guestlink_create(actor=owner, study=study, worklist=worklist, **options)

    return _make


def open_link(client, link, password=None, **extra):
    data = {} if password is None else {"password": password}
    return client.post(link.get_absolute_url(), data, **extra)


def viewer_url(study):
    return reverse("guestlinks:viewer", args=[study.public_id])


def outbox(template=None):
    messages = OutboundMessage.objects.all()
    if template:
        messages = messages.filter(template=template)
    return list(messages.order_by("id"))
