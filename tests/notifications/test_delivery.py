import datetime
import io
import smtplib
import time

import pytest
from django.core import mail
from django.core.management import call_command
from django.db import transaction
from django.test import TestCase
from django.utils import timezone

from notifications import queueing, services
from notifications.models import OutboundMessage
from notifications.services import notification_enqueue
from notifications.tasks import deliver_message, sweep_pending
from tests.notifications.backends import ScriptedBackend
from tests.notifications.brokers import broker_at, free_port

pytestmark = pytest.mark.django_db


@pytest.fixture
def scripted(settings):
    settings.EMAIL_BACKEND = "tests.notifications.backends.ScriptedBackend"
    ScriptedBackend.failures = []
    ScriptedBackend.attempts = 0
    return ScriptedBackend


def enqueue(**overrides):
    """Write a row and commit: the on-commit task runs (eagerly here, as in the demo)."""
    fields = {
        "channel": "email",
        "recipient": "ada@example.org",
        "template": "share_received",
        "context": {
            "recipient_name": "Ada",
            "sharer_name": "Dr Who",
            "sharer_organisation": "St E",
            "worklist_name": "Radiology",
            "study_path": "/studies/x/",
            "has_message": False,
        },
    }
    with TestCase.captureOnCommitCallbacks(execute=True):
        message = notification_enqueue(**{**fields, **overrides})
    message.refresh_from_db()
    return message


def write_row(**fields):
    """A row whose task never ran (as when the broker was down)."""
    message = OutboundMessage.objects.create(
        channel="email",
        recipient="ada@example.org",
        template="share_received",
        context={"sharer_name": "Dr Who", "study_path": "/studies/x/"},
        **fields,
    )
    return message


def test_enqueue_then_commit_sends_once_with_text_and_html():
    message = enqueue()
    assert message.status == "sent" and message.attempts == 1 and message.sent_at is not None
    [email] = mail.outbox
    assert email.subject == "Dr Who shared a study with you"
    assert "http://127.0.0.1:8000/studies/x/" in email.body
    assert email.alternatives[0][1] == "text/html"


def test_nothing_is_queued_when_the_transaction_rolls_back():
    with TestCase.captureOnCommitCallbacks(execute=True) as callbacks:
        try:
            with transaction.atomic():
                notification_enqueue(
                    channel="email",
                    recipient="x@example.org",
                    template="share_received",
                    context={},
                )
                raise RuntimeError("the share failed")
        except RuntimeError:
            pass
    assert callbacks == [] and not OutboundMessage.objects.exists() and not mail.outbox


def test_claim_is_won_once():
    message = write_row()
    first = services.message_claim(message_id=message.pk)
    second = services.message_claim(message_id=message.pk)
    assert first is not None and first.status == "sending" and first.attempts == 1
    assert second is None


def test_duplicate_delivery_sends_once():
    message = enqueue()
    # The broker redelivers, a sweep queues it again, an admin double-clicks: no second email.
    for _ in range(3):
        assert deliver_message.apply(args=[message.pk]).get() == "skipped"
    assert len(mail.outbox) == 1
    message.refresh_from_db()
    assert message.attempts == 1


def test_eager_transient_failure_is_retried_by_the_sweep_not_at_once(scripted):
    # Without a broker Celery would retry at once, ignoring the countdown, and use up every
    # attempt in milliseconds: the row waits for its time and the sweep sends it.
    scripted.failures = [smtplib.SMTPServerDisconnected("Connection unexpectedly closed")]
    message = enqueue()
    assert message.status == "pending" and message.attempts == 1 and scripted.attempts == 1
    assert message.next_attempt_at is not None and not mail.outbox
    assert sweep_pending.apply().get() == 0  # not due yet
    OutboundMessage.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now())
    services.inline_delivery_resume()  # what `manage.py sweep_outbox` does on each run
    call_command("sweep_outbox", stdout=io.StringIO())
    message.refresh_from_db()
    assert message.status == "sent" and message.attempts == 2 and len(mail.outbox) == 1


def test_eager_failure_holds_inline_delivery_back_so_a_request_waits_once(scripted):
    scripted.failures = [TimeoutError("timed out")]
    first = enqueue()
    second = enqueue(recipient="bob@example.org")  # not tried: the server failed just now
    assert scripted.attempts == 1 and first.status == second.status == "pending"
    assert second.attempts == 0 and not mail.outbox


def test_transient_failure_puts_the_row_back_with_a_next_attempt_time(scripted):
    scripted.failures = [TimeoutError("timed out")]
    message = write_row()
    before = timezone.now()
    delivery = services.message_deliver(message_id=message.pk)
    message.refresh_from_db()
    assert delivery.status == "retry" and delivery.retry_in == 30
    assert message.status == "pending" and message.attempts == 1
    assert message.last_error == "TimeoutError: timed out"
    assert before + datetime.timedelta(seconds=29) < message.next_attempt_at
    assert [services.backoff_seconds(n) for n in (1, 2, 3, 9)] == [30, 60, 120, 3600]


def test_transient_failures_stop_after_max_attempts(scripted, settings):
    settings.NOTIFICATIONS_MAX_ATTEMPTS = 3
    scripted.failures = [ConnectionRefusedError("refused")] * 5
    message = write_row()
    outcomes = [services.message_deliver(message_id=message.pk).status for _ in range(3)]
    message.refresh_from_db()
    assert outcomes == ["retry", "retry", "failed"] and scripted.attempts == 3
    assert message.status == "failed" and message.attempts == 3
    assert "ConnectionRefusedError" in message.last_error and not mail.outbox


def test_permanent_failure_is_marked_failed_without_retry(scripted):
    scripted.failures = [smtplib.SMTPRecipientsRefused({"ada@example.org": (550, b"No such user")})]
    message = enqueue()
    assert message.status == "failed" and message.attempts == 1 and scripted.attempts == 1
    assert message.last_error.startswith("SMTPRecipientsRefused")


@pytest.mark.parametrize(
    "exc, transient",
    [
        # At RCPT, by each recipient's code: greylisting and a full mailbox pass later.
        (smtplib.SMTPRecipientsRefused({"a@b.c": (451, b"4.7.1 Greylisted, try again")}), True),
        (smtplib.SMTPRecipientsRefused({"a@b.c": (452, b"4.2.2 Mailbox full")}), True),
        (smtplib.SMTPRecipientsRefused({"a@b.c": (550, b"5.1.1 No such user")}), False),
        (smtplib.SMTPConnectError(421, b"busy"), True),
        (smtplib.SMTPDataError(451, b"try later"), True),
        (smtplib.SMTPDataError(554, b"rejected"), False),
        (smtplib.SMTPSenderRefused(553, b"no", "a@b"), False),
        (ConnectionResetError(), True),
        (ValueError("bad template data"), False),
    ],
)
def test_classification_of_errors(exc, transient):
    assert services.is_transient(exc) is transient


def test_sweep_sends_what_was_left_pending_but_not_fresh_rows():
    old = write_row()
    OutboundMessage.objects.filter(pk=old.pk).update(
        created_at=timezone.now() - datetime.timedelta(minutes=5)
    )
    fresh = write_row()  # its own task is on the way
    assert sweep_pending.apply().get() == 1
    old.refresh_from_db(), fresh.refresh_from_db()
    assert old.status == "sent" and fresh.status == "pending"
    assert len(mail.outbox) == 1


def test_sweep_honours_the_retry_time():
    later = write_row(next_attempt_at=timezone.now() + datetime.timedelta(minutes=5))
    due = write_row(next_attempt_at=timezone.now() - datetime.timedelta(seconds=1), attempts=1)
    assert sweep_pending.apply().get() == 1
    later.refresh_from_db(), due.refresh_from_db()
    assert later.status == "pending" and due.status == "sent" and due.attempts == 2


def test_sweep_recovers_stale_claims_but_not_live_ones(settings):
    settings.NOTIFICATIONS_MAX_ATTEMPTS = 3
    long_ago = timezone.now() - datetime.timedelta(hours=1)
    stale = write_row(status="sending", claimed_at=long_ago, attempts=1, created_at=long_ago)
    OutboundMessage.objects.filter(pk=stale.pk).update(created_at=long_ago)
    live = write_row(status="sending", claimed_at=timezone.now(), attempts=1)
    exhausted = write_row(status="sending", claimed_at=long_ago, attempts=3)
    sweep_pending.apply()
    for row in (stale, live, exhausted):
        row.refresh_from_db()
    assert stale.status == "sent" and stale.attempts == 2
    assert live.status == "sending"
    assert exhausted.status == "failed" and "stopped" in exhausted.last_error
    assert len(mail.outbox) == 1


def test_broker_down_at_enqueue_loses_nothing_and_does_not_wait(settings, caplog):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    with broker_at(f"redis://127.0.0.1:{free_port()}/0"):  # nothing listens there
        started = time.monotonic()
        messages = [enqueue(recipient=f"doc{n}@example.org") for n in range(3)]
        handed_off = time.monotonic() - started  # publishing happens in the background
        assert queueing.wait_until_handed_off(timeout=30)
        assert queueing.broker_paused()  # later messages are not even tried for a while
    assert "it will be caught up later" in caplog.text
    assert all(m.status == "pending" for m in messages) and not mail.outbox
    assert handed_off < 1.0, handed_off
    settings.CELERY_TASK_ALWAYS_EAGER = True
    OutboundMessage.objects.update(created_at=timezone.now() - datetime.timedelta(minutes=1))
    assert sweep_pending.apply().get() == 3
    assert sorted(m.to[0] for m in mail.outbox) == [f"doc{n}@example.org" for n in range(3)]


def test_send_again_requeues_failed_and_sent_but_not_sending():
    failed = write_row(status="failed", attempts=5, last_error="boom")
    sent = write_row(status="sent", attempts=1, sent_at=timezone.now())
    busy = write_row(status="sending", claimed_at=timezone.now(), attempts=1)
    with TestCase.captureOnCommitCallbacks(execute=True):
        count = services.messages_send_again(message_ids=[failed.pk, sent.pk, busy.pk])
    assert count == 2
    for row in (failed, sent, busy):
        row.refresh_from_db()
    assert failed.status == "sent" and failed.attempts == 1 and failed.last_error == ""
    assert sent.status == "sent" and busy.status == "sending"
    assert len(mail.outbox) == 2
