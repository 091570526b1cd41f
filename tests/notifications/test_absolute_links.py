"""Every absolute link people are sent starts with SITE_URL, which settings derive from HOST and
PORT (as `make run` passes them) when it is not set."""

import os
import re
import subprocess
import sys

import pytest
from django.core import mail
from django.test import TestCase
from django.urls import reverse

from guestlinks import services as guestlinks
from notifications.models import OutboundMessage
from notifications.tasks import deliver_message
from sharing.services import ShareTarget, study_share
from tests.factories import UserFactory

BASE = "http://127.0.0.1:33575"
URL = re.compile(r"https?://[^\s\"'<>]+")


def site_url_with(**env: str) -> str:
    """SITE_URL as a fresh process computes it from this environment."""
    clean = {k: v for k, v in os.environ.items() if k not in {"SITE_URL", "HOST", "PORT"}}
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from django.conf import settings; "
            "print(settings.SITE_URL)",
        ],
        env={**clean, "DJANGO_SETTINGS_MODULE": "cimar_share.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout.strip()


def test_site_url_follows_host_and_port_unless_set():
    assert site_url_with() == "http://127.0.0.1:8000"
    assert site_url_with(PORT="33575") == BASE
    assert site_url_with(HOST="localhost", PORT="8080") == "http://localhost:8080"
    # A wildcard listening address is reached on the loopback (what ALLOWED_HOSTS accepts).
    assert site_url_with(HOST="0.0.0.0", PORT="8080") == "http://127.0.0.1:8080"  # noqa: S104
    assert site_url_with(HOST="::1", PORT="8080") == "http://[::1]:8080"
    assert site_url_with(SITE_URL="https://share.example.org/", PORT="33575") == (
        "https://share.example.org"
    )


@pytest.fixture
def sms_outbox(settings, tmp_path):
    settings.SMS_BACKEND = "notifications.sms_backends.OutboxBackend"
    settings.SMS_OUTBOX_DIR = tmp_path / "sms-outbox"
    return settings.SMS_OUTBOX_DIR


def test_every_message_links_to_site_url(
    client, settings, sms_outbox, owner, worklist, study, organisation
):
    settings.SITE_URL = BASE
    colleague = UserFactory(username="ada", organisation=organisation, email="ada@example.org")
    with TestCase.captureOnCommitCallbacks(execute=True):
        study_share(
            actor=owner,
            study=study,
            source_worklist=worklist,
            targets=[
                ShareTarget("email", "new.doc@clinic.example"),  # an invitation
                ShareTarget("physician", str(colleague.public_id)),  # "shared with you"
            ],
        )
    link = guestlinks.guestlink_create(
        actor=owner,
        study=study,
        worklist=worklist,
        email="guest@example.net",
        mobile="07911 123456",
        notify_on_view=True,
        password="pass-word-1",
    )
    assert client.post(link.get_absolute_url(), {"password": "pass-word-1"}).status_code == 303
    locks = guestlinks.guestlink_create(
        actor=owner,
        study=study,
        worklist=worklist,
        password="other-pass-2",
        max_password_attempts=1,
    )
    client.post(locks.get_absolute_url(), {"password": "wrong"})  # locked: the creator is told
    for message in OutboundMessage.objects.filter(status="pending"):
        deliver_message(message.pk)
    sent = OutboundMessage.objects.values_list("template", "channel", "status")
    assert {(template, channel) for template, channel, _ in sent} >= {
        ("invitation", "email"),
        ("share_received", "email"),
        ("guestlink_invite", "email"),
        ("guestlink_invite", "sms"),
        ("guestlink_opened", "email"),
        ("guestlink_locked", "email"),
    }
    assert {status for _, _, status in sent} == {"sent"}
    client.post(reverse("accounts:password_reset"), {"email": owner.email})

    texts = [email.body for email in mail.outbox]
    texts += [str(email.alternatives[0][0]) for email in mail.outbox if email.alternatives]
    texts += [path.read_text() for path in sms_outbox.iterdir()]
    assert len(texts) == 2 * 6 + 1  # six emails, text and HTML; one SMS
    for text in texts:
        links = URL.findall(text)
        assert links, text
        for found in links:
            assert found.startswith(f"{BASE}/"), (found, text)
