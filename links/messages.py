"""Messages about a link, through the notifications outbox: the invitation to its recipients
and notices to its creator. What a message may say (`context`) is the kind's; never the token
(templates derive the URL from the link's public id when they render), never a password."""

import zoneinfo
from datetime import datetime
from typing import Any

from django.utils import timezone

from notifications.services import notification_enqueue


def local_time(moment: datetime, link: Any) -> str:
    """A time as the creator's organisation reads it (messages are plain JSON strings)."""
    organisation = link.created_by.organisation if link.created_by else None
    zone = (
        zoneinfo.ZoneInfo(organisation.time_zone)
        if organisation
        else timezone.get_default_timezone()
    )
    return timezone.localtime(moment, zone).strftime("%d/%m/%Y %H:%M %Z")


def send_to_recipients(
    link: Any,
    template: str,
    context: dict[str, Any],
    channels: frozenset[str] = frozenset({"email", "mobile"}),
    **watch: str,
) -> None:
    """The invitation: by email (with the creator's message) and by SMS, as the link asks
    (`channels`: only these of its recipients, e.g. one just changed). `watch` (topic,
    sender_email, sender_path) lets the sender see its delivery state."""
    if link.email and "email" in channels:
        notification_enqueue(
            channel="email",
            recipient=link.email,
            template=template,
            context={**context, "message": link.message},
            **watch,
        )
    if link.mobile and "mobile" in channels:
        notification_enqueue(
            channel="sms",
            recipient=str(link.mobile),
            template=template,
            context=context,
            **watch,
        )


def notify_creator(link: Any, template: str, context: dict[str, Any]) -> None:
    """A notice to the link's creator, while they have an active account with an email."""
    creator = link.created_by
    if creator is None or not creator.is_active or not creator.email:
        return
    notification_enqueue(
        channel="email", recipient=creator.email, template=template, context=context
    )
