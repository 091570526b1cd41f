"""Delivery through a real SMTP server on loopback (aiosmtpd) that greylists, refuses or hangs,
without a broker (eager mode): what a request waits, what is retried, what the sender sees."""

import io
import time
from collections.abc import Iterator

import pytest
from django.core.management import call_command
from django.db import transaction
from django.test import TestCase
from django.utils import timezone

from notifications.models import OutboundMessage
from notifications.services import notification_enqueue
from tests.integration.realworld import Inbox, greylist, smtp_server

pytestmark = pytest.mark.django_db


@pytest.fixture
def smtp(settings) -> Iterator[tuple[Inbox, int]]:
    with smtp_server() as (inbox, port):
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
        settings.EMAIL_USE_TLS = False
        settings.EMAIL_TIMEOUT = 1
        yield inbox, port


def enqueue(*recipients: str, sender: str = "") -> list[OutboundMessage]:
    with TestCase.captureOnCommitCallbacks(execute=True), transaction.atomic():
        rows = [
            notification_enqueue(
                channel="email",
                recipient=recipient,
                template="share_received",
                context={"sharer_name": "Dr Who", "study_path": "/studies/x/"},
                topic="test:1",
                sender_email=sender,
                sender_path="/studies/x/",
            )
            for recipient in recipients
        ]
    for row in rows:
        row.refresh_from_db()
    return rows


def sweep_when_due() -> None:
    OutboundMessage.objects.filter(status="pending").update(next_attempt_at=timezone.now())
    call_command("sweep_outbox", stdout=io.StringIO())


def test_greylisting_at_rcpt_is_transient_and_the_sweep_delivers_once(smtp):
    inbox, _ = smtp
    inbox.rcpt_reply = greylist(seconds=0.5)
    [message] = enqueue("grey@clinic.example")
    assert message.status == "pending" and message.attempts == 1  # not failed for good
    assert "try again later" in message.failure_reason and "451" in message.failure_reason
    assert message.state_label == "Retrying"
    time.sleep(0.6)
    sweep_when_due()
    sweep_when_due()  # a second sweep sends nothing more
    message.refresh_from_db()
    assert message.status == "sent" and message.attempts == 2
    assert [e.rcpt_tos for e in inbox.envelopes] == [["grey@clinic.example"]]


def test_5xx_at_rcpt_fails_for_good_in_plain_words_and_tells_the_sender(smtp):
    inbox, _ = smtp
    inbox.rcpt_reply = lambda address: (
        "550 5.1.1 No such user here" if address.startswith("nobody") else None
    )
    [message] = enqueue("nobody@clinic.example", sender="dr.who@st-e.example")
    assert message.status == "failed" and message.attempts == 1
    assert message.failure_reason == (
        "The recipient's mail server refused the address (550 5.1.1 No such user here)."
    )
    # The sender hears of it once, by email (a notice that fails tells nobody).
    [notice] = OutboundMessage.objects.filter(template="delivery_failed")
    assert notice.recipient == "dr.who@st-e.example" and notice.status == "sent"
    assert notice.sender_email == ""
    [envelope] = inbox.envelopes
    body = envelope.content.decode()
    assert envelope.rcpt_tos == ["dr.who@st-e.example"]
    assert "nobody@clinic.example could not be delivered" in body and "550" in body


def test_eager_mode_with_a_hanging_server_answers_quickly_and_retries_later(smtp):
    inbox, _ = smtp
    inbox.hang_at = "RCPT"
    started = time.monotonic()
    rows = enqueue(*(f"doc{n}@clinic.example" for n in range(5)))
    waited = time.monotonic() - started
    # One EMAIL_TIMEOUT (1 s here) for the first message; the others are not tried while the
    # server has just failed (it was 5 x EMAIL_TIMEOUT per message, retries included).
    assert waited < 3, waited
    assert [row.status for row in rows] == ["pending"] * 5
    assert [row.attempts for row in rows] == [1, 0, 0, 0, 0]
    inbox.hang_at = ""
    inbox.release()
    sweep_when_due()
    assert sorted(OutboundMessage.objects.values_list("status", flat=True)) == ["sent"] * 5
    delivered = sorted(address for e in inbox.envelopes for address in e.rcpt_tos)
    assert delivered == [f"doc{n}@clinic.example" for n in range(5)]


def test_every_attempt_carries_the_same_message_id(smtp):
    inbox, _ = smtp
    inbox.data_reply = lambda: "451 4.3.0 Temporary failure"
    [message] = enqueue("ada@clinic.example")
    assert message.status == "pending"
    inbox.data_reply = lambda: None
    sweep_when_due()
    OutboundMessage.objects.filter(pk=message.pk).update(status="pending")  # as if resent
    sweep_when_due()
    ids = inbox.message_ids()
    assert len(ids) == 2 and ids[0] == ids[1] == message.message_id_header
    assert ids[0].startswith(f"<outbox-{message.pk}-") and ids[0].endswith("@cimar.local>")
