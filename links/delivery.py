"""Whether a link's invitation may still go out, and the link's full URL, derived when the
message is sent (each kind registers it with notifications.registry for its template).

Outbox rows hold only the link's public id, so the table never contains a usable URL.

A message renders when it is sent, which may be long after it was queued (a retry, or
"Send again"). If by then the link no longer opens (deleted, expired, locked, used up, or gone),
the check raises `LinkUnusable`: the outbox treats it as a permanent failure, so the message is
marked failed with that reason and nothing goes out.
"""

from collections.abc import Callable
from typing import Any

from audit.models import AuditEvent
from audit.services import record_event
from notifications.errors import PermanentDeliveryError
from notifications.links import absolute_url


class LinkUnusable(PermanentDeliveryError):
    """The message is about a link that no longer opens; sending it would only mislead."""


def link_delivery(
    model: Any, *, noun: str, url_name: str
) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """The delivery check for one kind of link: its URL under `url_name` in the message's
    context, or LinkUnusable (naming the `noun`, e.g. "guest link") if it no longer opens."""

    def check(context: dict[str, Any]) -> dict[str, Any]:
        link = model.objects.filter(public_id=context.get("link_id") or "").first()
        if link is None or not link.is_usable:
            state = link.state_label.lower() if link is not None else "gone"
            raise LinkUnusable(f"The {noun} is no longer usable ({state}); not sent.")
        return {url_name: absolute_url(link.get_absolute_url())}

    return check


def link_delivery_recorder(model: Any, *, action: str) -> Callable[..., None]:
    """The audit event for one kind of link's invitation once it went out or failed for good
    (registered with notifications.registry.register_delivery_outcome): which link, by which
    channel, and why not."""

    def record(*, context: dict[str, Any], channel: str, status: str, reason: str = "") -> None:
        link = model.objects.filter(public_id=context.get("link_id") or "").first()
        study = getattr(link, "study", None) if link is not None else None
        record_event(
            action=action,
            actor=None,
            guest_link_id=link.public_id if link is not None else None,
            study_instance_uid=study.study_instance_uid if study is not None else "",
            outcome=AuditEvent.Outcome.SUCCESS if status == "sent" else AuditEvent.Outcome.FAILURE,
            details={
                "channel": channel,
                "status": status,
                **({"reason": reason} if reason else {}),
            },
        )

    return record
