"""Whether a guest-link message may still go out, and the link's full guest URL, derived when
it is sent (registered with notifications.registry for the "guestlink_invite" template).

Outbox rows hold only the link's public id, so the table never contains a usable URL.

A message renders when it is sent, which may be long after it was queued (a retry, or
"Send again" in the admin). If by then the link no longer opens (deleted, expired, locked, used
up, or gone), the check raises `GuestLinkUnusable`: the outbox treats it as a permanent failure,
so the message is marked failed with that reason and nothing goes out.
"""

from typing import Any

from notifications.errors import PermanentDeliveryError
from notifications.links import absolute_url

from .models import GuestLink


class GuestLinkUnusable(PermanentDeliveryError):
    """The message is about a guest link that no longer opens; sending it would only mislead."""


def guestlink_delivery(context: dict[str, Any]) -> dict[str, Any]:
    """The link's guest URL for the message, or GuestLinkUnusable if it no longer opens."""
    link_id = context.get("link_id") or ""
    link = (
        GuestLink.objects.filter(public_id=link_id)
        .only("secret", "deleted_at", "locked_at", "expires_at", "max_uses", "use_count")
        .first()
    )
    if link is None or not link.is_usable:
        state = link.state_label.lower() if link is not None else "gone"
        raise GuestLinkUnusable(f"The guest link is no longer usable ({state}); not sent.")
    return {"guestlink_url": absolute_url(link.get_absolute_url())}
