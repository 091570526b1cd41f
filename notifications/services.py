"""The outbox: messages are rows first, delivered by a Celery task after the commit.

A message moves pending -> sending (claimed by one conditional UPDATE) -> sent, or back to
pending after a transient failure (with a time for the next attempt), or to failed after a
permanent one or too many attempts. Only the worker that won the claim sends, so a duplicate
task or a retry never sends twice; a claim left by a worker that died is recovered by the sweep
(at once when the sweep can see that the claiming process is gone, else after STALE_CLAIM).
Delivery is at least once: a worker killed after the server accepted a message but before the
row says so sends it again, with the same Message-ID (README, "Delivery guarantees").
"""

import logging
import os
import smtplib
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models import F, Q
from django.template.loader import render_to_string
from django.utils import timezone

from . import queueing
from .errors import PermanentDeliveryError, TransientDeliveryError
from .models import OutboundMessage
from .registry import delivery_context, delivery_outcome

logger = logging.getLogger(__name__)

# A claim older than this belongs to a worker that died mid-send (tasks are killed after 300 s).
STALE_CLAIM = timedelta(minutes=10)
# The sweep leaves fresh messages alone: their own on-commit task is on its way.
SWEEP_GRACE = timedelta(seconds=30)
BACKOFF_MAX_SECONDS = 60 * 60
# Without a broker (eager), a transient failure stops inline delivery in this process for this
# long: a hanging SMTP server costs one request one EMAIL_TIMEOUT, not one per message.
INLINE_PAUSE_SECONDS = 60.0
_inline_paused_until = 0.0


def max_attempts() -> int:
    return int(settings.NOTIFICATIONS_MAX_ATTEMPTS)


def backoff_seconds(attempts: int) -> int:
    """30 s, 60 s, 120 s, ... after the 1st, 2nd, 3rd failed attempt; at most an hour."""
    base = int(getattr(settings, "NOTIFICATIONS_BACKOFF_SECONDS", 30))
    return int(min(base * 2 ** max(attempts - 1, 0), BACKOFF_MAX_SECONDS))


def notification_enqueue(
    *,
    channel: str,
    recipient: str,
    template: str,
    context: dict[str, Any],
    topic: str = "",
    sender_email: str = "",
    sender_path: str = "",
) -> OutboundMessage:
    """Write a message row; deliver it once the surrounding transaction commits.

    `topic` names what the message is about (e.g. "sharing.share:12") so that the sender's
    pages can show its delivery state; `sender_email` is told if it fails for good, with a link
    to `sender_path`.
    """
    message = OutboundMessage.objects.create(
        channel=channel,
        recipient=recipient,
        template=template,
        context=context,
        topic=topic,
        sender_email=sender_email,
        sender_path=sender_path,
    )
    transaction.on_commit(lambda: message_dispatch(message_id=message.pk))
    return message


def message_dispatch(*, message_id: int, countdown: int | None = None) -> bool:
    """Hand a message to a worker (or, without a broker, send it now). Never raises, never
    waits on a broker: if it cannot be queued, the row stays pending and the sweep sends it."""
    global _inline_paused_until
    from .tasks import deliver_message

    if not queueing.is_eager():
        queueing.enqueue_quietly(deliver_message, (message_id,), countdown=countdown)
        return True
    if time.monotonic() < _inline_paused_until:
        return False  # the mail server failed moments ago; the sweep tries it later
    outcome = queueing.enqueue_quietly(deliver_message, (message_id,))
    if outcome == "retry":
        _inline_paused_until = time.monotonic() + INLINE_PAUSE_SECONDS
    return True


def inline_delivery_resume() -> None:
    """Forget a past inline failure (tests; `manage.py sweep_outbox` on each run)."""
    global _inline_paused_until
    _inline_paused_until = 0.0


def process_identity(pid: int | None = None) -> str:
    """host:pid:start-time of a process: tells a live claim from one whose process is gone
    (the start time, from /proc, tells a reused pid from the original)."""
    pid = os.getpid() if pid is None else pid
    return f"{socket.gethostname()}:{pid}:{_process_start(pid)}"


def _process_start(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            fields = stat.read().rpartition(")")[2].split()
        return "" if fields[0] in {"Z", "X"} else fields[19]  # state; field 22, starttime
    except (OSError, IndexError):
        return ""


def claimant_is_gone(claimed_by: str) -> bool:
    """Whether the process that claimed a message can be seen to have ended.

    Only a process on this host can be seen; elsewhere the answer is no (wait for STALE_CLAIM).
    """
    parts = claimed_by.split(":")
    if len(parts) != 3 or parts[0] != socket.gethostname() or not parts[1].isdigit():
        return False
    pid, start = int(parts[1]), parts[2]
    if not os.path.exists("/proc"):
        return False
    alive_start = _process_start(pid)
    if not alive_start:
        return True  # no such process
    return bool(start) and alive_start != start  # the pid now belongs to another process


def message_claim(*, message_id: int) -> OutboundMessage | None:
    """Claim a pending message with a conditional UPDATE, so that only one worker sends it."""
    now = timezone.now()
    claimed = OutboundMessage.objects.filter(
        pk=message_id, status=OutboundMessage.Status.PENDING
    ).update(
        status=OutboundMessage.Status.SENDING,
        claimed_at=now,
        claimed_by=process_identity(),
        next_attempt_at=None,
        attempts=F("attempts") + 1,
    )
    if not claimed:
        return None
    return OutboundMessage.objects.get(pk=message_id)


def render_email(message: OutboundMessage) -> EmailMultiAlternatives:
    context = delivery_context(message.template, message.context)
    subject = render_to_string(f"emails/{message.template}_subject.txt", context).strip()
    body = render_to_string(f"emails/{message.template}_body.txt", context)
    html = render_to_string(f"emails/{message.template}_body.html", context)
    email = EmailMultiAlternatives(
        subject=" ".join(subject.split()),
        body=body,
        to=[message.recipient],
        headers={"Message-ID": message.message_id_header},
    )
    email.attach_alternative(html, "text/html")
    return email


def message_prepare(*, message: OutboundMessage) -> Callable[[], object]:
    """Render a claimed message; returns what sends it. Raises before any server is contacted
    when the message cannot or may no longer go (e.g. its invitation was revoked)."""
    if message.channel == OutboundMessage.Channel.EMAIL:
        return render_email(message).send
    from .sms import send_sms

    context = delivery_context(message.template, message.context)
    text = render_to_string(f"sms/{message.template}.txt", context).strip()
    return partial(send_sms, message.recipient, text)


def message_send(*, message: OutboundMessage) -> None:
    """Send a claimed message and record that it went. Failures propagate to the caller."""
    message_prepare(message=message)()
    _mark_sent(message)


def _mark_sent(message: OutboundMessage) -> bool:
    """Whether this claim marked it sent (a recovered stale claim may have moved it on)."""
    return bool(
        OutboundMessage.objects.filter(pk=message.pk, status=OutboundMessage.Status.SENDING).update(
            status=OutboundMessage.Status.SENT,
            sent_at=timezone.now(),
            last_error="",
            failure_reason="",
        )
    )


def _refusal_codes(exc: smtplib.SMTPRecipientsRefused) -> list[int]:
    return [int(code) for code, _ in exc.recipients.values()]


def is_transient(exc: BaseException) -> bool:
    """Whether trying again later may work: connection trouble and 4xx replies, yes.

    A refusal at RCPT is judged by each recipient's reply code: greylisting ("451 4.7.1") and
    a full mailbox ("452") pass later; a 5xx never does.
    """
    if isinstance(exc, TransientDeliveryError):
        return True
    if isinstance(exc, PermanentDeliveryError):
        return False
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = _refusal_codes(exc)
        return bool(codes) and all(400 <= code < 500 for code in codes)
    if isinstance(exc, smtplib.SMTPServerDisconnected | smtplib.SMTPConnectError):
        return True
    if isinstance(exc, smtplib.SMTPResponseException):
        return 400 <= exc.smtp_code < 500
    # Connection refused, reset, timeouts (socket.timeout is TimeoutError, an OSError).
    return isinstance(exc, OSError)


def _server_words(code: int, text: bytes | str) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return f"{code} {' '.join(text.split())}"[:150]


def plain_reason(exc: BaseException) -> str:
    """Why an attempt failed, in words a sender understands (with the server's own words)."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused) and exc.recipients:
        code, text = next(iter(exc.recipients.values()))
        words = _server_words(code, text)
        if 400 <= int(code) < 500:
            return f"The recipient's mail server asked to try again later ({words})."
        return f"The recipient's mail server refused the address ({words})."
    if isinstance(exc, smtplib.SMTPSenderRefused):
        words = _server_words(exc.smtp_code, exc.smtp_error)
        return f"The mail server refused our sender address ({words})."
    if isinstance(exc, smtplib.SMTPConnectError | smtplib.SMTPServerDisconnected):
        return "The mail server could not be reached."
    if isinstance(exc, smtplib.SMTPResponseException):
        words = _server_words(exc.smtp_code, exc.smtp_error)
        if 400 <= exc.smtp_code < 500:
            return f"The mail server asked to try again later ({words})."
        return f"The mail server refused the message ({words})."
    if isinstance(exc, TransientDeliveryError | PermanentDeliveryError):
        return str(exc)[:250]
    if isinstance(exc, OSError):
        return "The mail server could not be reached or did not answer in time."
    return "The message could not be prepared."


def _describe(exc: BaseException) -> str:
    # The class and the server's words; never the message body (it may hold a link token).
    return f"{type(exc).__name__}: {exc}"[:1000]


@dataclass(frozen=True)
class Delivery:
    status: str  # "sent", "skipped" (someone else has it), "retry", "failed"
    retry_in: int | None = None


def message_deliver(*, message_id: int) -> Delivery:
    """Claim, send and record the outcome of one message. Called by the Celery task."""
    message = message_claim(message_id=message_id)
    if message is None:
        return Delivery("skipped")
    try:
        send = message_prepare(message=message)
    except Exception as exc:
        # Never handed to a server: withdrawn (its invitation or link is no longer usable) or
        # broken. Shown where the sender looks, but no "not delivered" notice.
        return _message_failed(message, exc, tell_sender=False)
    try:
        send()
    except Exception as exc:
        return _message_failed(message, exc)
    if _mark_sent(message):
        delivery_outcome(message.template, message.context, channel=message.channel, status="sent")
    return Delivery("sent")


def _message_failed(
    message: OutboundMessage, exc: BaseException, *, tell_sender: bool = True
) -> Delivery:
    claimed = OutboundMessage.objects.filter(pk=message.pk, status=OutboundMessage.Status.SENDING)
    reason = plain_reason(exc)
    if is_transient(exc) and message.attempts < max_attempts():
        delay = backoff_seconds(message.attempts)
        claimed.update(
            status=OutboundMessage.Status.PENDING,
            last_error=_describe(exc),
            failure_reason=reason,
            next_attempt_at=timezone.now() + timedelta(seconds=delay),
        )
        logger.info(
            "Message %s failed (attempt %s), retrying in %ss", message.pk, message.attempts, delay
        )
        return Delivery("retry", retry_in=delay)
    failed = claimed.update(
        status=OutboundMessage.Status.FAILED, last_error=_describe(exc), failure_reason=reason
    )
    if failed:
        delivery_outcome(
            message.template,
            message.context,
            channel=message.channel,
            status="failed",
            reason=reason,
        )
    if failed and tell_sender:
        _tell_the_sender(message.pk)
    logger.warning(
        "Message %s failed for good after %s attempt(s): %s",
        message.pk,
        message.attempts,
        type(exc).__name__,
    )
    return Delivery("failed")


def _tell_the_sender(message_id: int) -> None:
    """A message failed for good: email whoever sent it (once; never about a notice itself)."""
    message = OutboundMessage.objects.get(pk=message_id)
    if not message.sender_email:
        return
    notification_enqueue(
        channel=OutboundMessage.Channel.EMAIL,
        recipient=message.sender_email,
        template="delivery_failed",
        context={
            "channel": message.get_channel_display().lower()
            if message.channel == OutboundMessage.Channel.EMAIL
            else "SMS",
            "recipient": message.recipient,
            "reason": message.failure_reason,
            "page_path": message.sender_path,
        },
    )


def messages_recover_stale_claims() -> int:
    """Put claims abandoned by dead workers back to pending (or failed when out of attempts).

    A claim is abandoned when its process can be seen to be gone (same host), or after
    STALE_CLAIM wherever it is.
    """
    sending = OutboundMessage.objects.filter(status=OutboundMessage.Status.SENDING)
    cutoff = timezone.now() - STALE_CLAIM
    abandoned = list(sending.filter(claimed_at__lt=cutoff).values_list("pk", "claimed_by"))
    here = sending.filter(claimed_at__gte=cutoff, claimed_by__startswith=f"{socket.gethostname()}:")
    abandoned += [row for row in here.values_list("pk", "claimed_by") if claimant_is_gone(row[1])]
    note = "The worker sending it stopped before finishing."
    count = 0
    for pk, claimed_by in abandoned:
        # Conditional: a claim that changed meanwhile (sent, or claimed again) is left alone.
        same_claim = sending.filter(pk=pk, claimed_by=claimed_by)
        if same_claim.filter(attempts__gte=max_attempts()).update(
            status=OutboundMessage.Status.FAILED,
            last_error=note,
            failure_reason="Sending was interrupted too many times.",
        ):
            _tell_the_sender(pk)
            count += 1
        else:
            # Due now: the task that held the claim is gone with its worker.
            count += same_claim.update(
                status=OutboundMessage.Status.PENDING,
                last_error=note,
                next_attempt_at=timezone.now(),
            )
    return count


def messages_due(*, limit: int = 500) -> list[int]:
    """Pending messages whose task was lost (broker down) or whose retry time has come."""
    now = timezone.now()
    return list(
        OutboundMessage.objects.filter(status=OutboundMessage.Status.PENDING)
        .filter(
            Q(next_attempt_at__isnull=True, created_at__lte=now - SWEEP_GRACE)
            | Q(next_attempt_at__lte=now)
        )
        .order_by("created_at", "id")
        .values_list("pk", flat=True)[:limit]
    )


def messages_sweep() -> int:
    """Recover stale claims, then queue every due message. Returns how many were queued."""
    messages_recover_stale_claims()
    return sum(message_dispatch(message_id=message_id) for message_id in messages_due())


def topic_send_again(*, topic: str) -> int:
    """The sender's "Send again": the failed messages about `topic` are queued once more.

    The caller (the service of the app that owns the topic) checks that the actor may.
    """
    wanted = list(
        OutboundMessage.objects.filter(
            topic=topic, status=OutboundMessage.Status.FAILED
        ).values_list("pk", flat=True)
    )
    return messages_send_again(message_ids=wanted) if wanted else 0


def messages_send_again(*, message_ids: list[int]) -> int:
    """Admin "send again": failed or sent messages go back to pending and are queued at once.

    A message being sent right now is left alone, so this never races a worker.
    """
    with transaction.atomic():
        # One conditional UPDATE: a row a worker claims meanwhile keeps its claim.
        count = (
            OutboundMessage.objects.filter(pk__in=message_ids)
            .exclude(status=OutboundMessage.Status.SENDING)
            .update(
                status=OutboundMessage.Status.PENDING,
                attempts=0,
                last_error="",
                next_attempt_at=None,
                sent_at=None,
                claimed_at=None,
                claimed_by="",
                failure_reason="",
            )
        )
        for message_id in message_ids:
            # Queuing one that stayed "sending" is harmless: its claim fails.
            transaction.on_commit(partial(message_dispatch, message_id=message_id))
    return count
