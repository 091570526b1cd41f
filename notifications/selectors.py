"""Read paths for the outbox: the delivery state of messages about things senders look at."""

from collections import defaultdict
from collections.abc import Iterable

from .models import OutboundMessage


def deliveries_by_topic(topics: Iterable[str]) -> dict[str, list[OutboundMessage]]:
    """The messages about each topic, oldest first: one query whatever the number of topics."""
    wanted = [topic for topic in set(topics) if topic]
    found: dict[str, list[OutboundMessage]] = defaultdict(list)
    if not wanted:
        return found
    rows = OutboundMessage.objects.filter(topic__in=wanted).only(
        "topic", "channel", "recipient", "status", "attempts", "failure_reason", "sent_at"
    )
    for message in rows.order_by("created_at", "id"):
        found[message.topic].append(message)
    return found


def any_failed(messages: Iterable[OutboundMessage]) -> bool:
    return any(message.status == OutboundMessage.Status.FAILED for message in messages)
