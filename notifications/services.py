"""The outbox: messages are rows first, delivered by a Celery task after the commit.

A message moves pending -> sending (claimed by one conditional UPDATE) -> sent, or back to
pending after a transient failure (with a time for the next attempt), or to failed after a
permanent one or too many attempts. Only the worker that won the claim sends, so a duplicate
task or a retry never sends twice; a claim left by a worker that died is recovered by the sweep.
"""

import logging
import smtplib
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

from .errors import PermanentDeliveryError, TransientDeliveryError
from .models import OutboundMessage
from .registry import delivery_context

logger = logging.getLogger(__name__)

# A claim older than this belongs to a worker that died mid-send (tasks are killed after 300 s).
STALE_CLAIM = timedelta(minutes=10)
# The sweep leaves fresh messages alone: their own on-commit task is on its way.
SWEEP_GRACE = timedelta(seconds=30)
BACKOFF_BASE_SECONDS = 30
BACKOFF_MAX_SECONDS = 60 * 60


def max_attempts() -> int:
    return int(settings.NOTIFICATIONS_MAX_ATTEMPTS)


def backoff_seconds(attempts: int) -> int:
    """30 s, 60 s, 120 s, ... after the 1st, 2nd, 3rd failed attempt; at most an hour."""
    return int(min(BACKOFF_BASE_SECONDS * 2 ** max(attempts - 1, 0), BACKOFF_MAX_SECONDS))


def notification_enqueue(
    *, channel: str, recipient: str, template: str, context: dict[str, Any]
) -> OutboundMessage:
    """Write a message row; deliver it once the surrounding transaction commits."""
    message = OutboundMessage.objects.create(
        channel=channel, recipient=recipient, template=template, context=context
    )
    transaction.on_commit(lambda: message_dispatch(message_id=message.pk))
    return message


def message_dispatch(*, message_id: int, countdown: int | None = None) -> bool:
    """Hand a message to the broker. Never raises: if the broker is down the sweep sends it."""
    from .tasks import deliver_message

    try:
        # retry=False: fail fast instead of holding a web request while the broker is away.
        deliver_message.apply_async((message_id,), countdown=countdown, retry=False)
    except Exception:  # the broker is down or unreachable; the row is safe in the database
        logger.warning(
            "Could not queue message %s; the sweep will send it.", message_id, exc_info=True
        )
        return False
    return True


def message_claim(*, message_id: int) -> OutboundMessage | None:
    """Claim a pending message with a conditional UPDATE, so that only one worker sends it."""
    now = timezone.now()
    claimed = OutboundMessage.objects.filter(
        pk=message_id, status=OutboundMessage.Status.PENDING
    ).update(
        status=OutboundMessage.Status.SENDING,
        claimed_at=now,
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
        subject=" ".join(subject.split()), body=body, to=[message.recipient]
    )
    email.attach_alternative(html, "text/html")
    return email


def message_send(*, message: OutboundMessage) -> None:
    """Send a claimed message and record that it went. Failures propagate to the caller."""
    if message.channel == OutboundMessage.Channel.EMAIL:
        render_email(message).send()
    else:
        from .sms import send_sms

        context = delivery_context(message.template, message.context)
        text = render_to_string(f"sms/{message.template}.txt", context).strip()
        send_sms(message.recipient, text)
    OutboundMessage.objects.filter(pk=message.pk, status=OutboundMessage.Status.SENDING).update(
        status=OutboundMessage.Status.SENT, sent_at=timezone.now(), last_error=""
    )


def is_transient(exc: BaseException) -> bool:
    """Whether trying again later may work: connection trouble and 4xx replies, yes."""
    if isinstance(exc, TransientDeliveryError):
        return True
    if isinstance(exc, PermanentDeliveryError | smtplib.SMTPRecipientsRefused):
        return False
    if isinstance(exc, smtplib.SMTPServerDisconnected | smtplib.SMTPConnectError):
        return True
    if isinstance(exc, smtplib.SMTPResponseException):
        return 400 <= exc.smtp_code < 500
    # Connection refused, reset, timeouts (socket.timeout is TimeoutError, an OSError).
    return isinstance(exc, OSError)


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
        message_send(message=message)
    except Exception as exc:
        return _message_failed(message, exc)
    return Delivery("sent")


def _message_failed(message: OutboundMessage, exc: BaseException) -> Delivery:
    claimed = OutboundMessage.objects.filter(pk=message.pk, status=OutboundMessage.Status.SENDING)
    if is_transient(exc) and message.attempts < max_attempts():
        delay = backoff_seconds(message.attempts)
        claimed.update(
            status=OutboundMessage.Status.PENDING,
            last_error=_describe(exc),
            next_attempt_at=timezone.now() + timedelta(seconds=delay),
        )
        logger.info(
            "Message %s failed (attempt %s), retrying in %ss", message.pk, message.attempts, delay
        )
        return Delivery("retry", retry_in=delay)
    claimed.update(status=OutboundMessage.Status.FAILED, last_error=_describe(exc))
    logger.warning(
        "Message %s failed for good after %s attempt(s): %s",
        message.pk,
        message.attempts,
        type(exc).__name__,
    )
    return Delivery("failed")


def messages_recover_stale_claims() -> int:
    """Put claims abandoned by dead workers back to pending (or failed when out of attempts)."""
    cutoff = timezone.now() - STALE_CLAIM
    stale = OutboundMessage.objects.filter(
        status=OutboundMessage.Status.SENDING, claimed_at__lt=cutoff
    )
    note = "The worker sending it stopped before finishing."
    failed = stale.filter(attempts__gte=max_attempts()).update(
        status=OutboundMessage.Status.FAILED, last_error=note
    )
    recovered = stale.filter(attempts__lt=max_attempts()).update(
        status=OutboundMessage.Status.PENDING, last_error=note, next_attempt_at=None
    )
    return failed + recovered


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
            )
        )
        for message_id in message_ids:
            # Queuing one that stayed "sending" is harmless: its claim fails.
            transaction.on_commit(partial(message_dispatch, message_id=message_id))
    return count
