"""The outbox: messages are rows first, delivered by a Celery task after the commit."""

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models import F
from django.template.loader import render_to_string
from django.utils import timezone

from .models import OutboundMessage

# A claim older than this is taken to belong to a worker that died mid-send.
STALE_CLAIM = timedelta(minutes=10)


def notification_enqueue(
    *, channel: str, recipient: str, template: str, context: dict[str, Any]
) -> OutboundMessage:
    """Write a message row; deliver it once the surrounding transaction commits."""
    message = OutboundMessage.objects.create(
        channel=channel, recipient=recipient, template=template, context=context
    )
    from .tasks import deliver_message

    transaction.on_commit(lambda: deliver_message.delay(message.pk))
    return message


def message_claim(*, message_id: int) -> OutboundMessage | None:
    """Claim a pending message with a conditional UPDATE, so that only one worker sends it."""
    now = timezone.now()
    claimed = OutboundMessage.objects.filter(
        pk=message_id, status=OutboundMessage.Status.PENDING
    ).update(status=OutboundMessage.Status.SENDING, claimed_at=now, attempts=F("attempts") + 1)
    if not claimed:
        return None
    return OutboundMessage.objects.get(pk=message_id)


def render_email(message: OutboundMessage) -> EmailMultiAlternatives:
    context = {**message.context, "site_url": settings.SITE_URL}
    subject = render_to_string(f"emails/{message.template}_subject.txt", context).strip()
    body = render_to_string(f"emails/{message.template}_body.txt", context)
    html = render_to_string(f"emails/{message.template}_body.html", context)
    email = EmailMultiAlternatives(
        subject=" ".join(subject.split()), body=body, to=[message.recipient]
    )
    email.attach_alternative(html, "text/html")
    return email


def message_send(*, message: OutboundMessage) -> None:
    """Send a claimed message and record the outcome."""
    if message.channel == OutboundMessage.Channel.EMAIL:
        render_email(message).send()
    else:
        from .sms import send_sms

        text = render_to_string(f"sms/{message.template}.txt", message.context).strip()
        send_sms(message.recipient, text)
    OutboundMessage.objects.filter(pk=message.pk).update(
        status=OutboundMessage.Status.SENT, sent_at=timezone.now(), last_error=""
    )
