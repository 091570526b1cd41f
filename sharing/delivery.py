"""Whether an invitation email may still go out, and its signed link, made when it is sent
(registered with notifications.registry for the "invitation" template).

Outbox rows hold only the invitation's public id, so neither the table, a database dump nor the
admin ever shows a link that would let its reader accept the invitation into their own account.
An invitation that is no longer pending is not sent at all: the message fails for good, with
the reason in its last error.
"""

from typing import Any

from django.core.exceptions import ValidationError
from django.urls import reverse

from notifications.errors import PermanentDeliveryError
from notifications.links import absolute_url

from . import invitations as links
from .models import Invitation

_NOT_PENDING: dict[str, str] = {
    Invitation.Status.ACCEPTED: "was accepted already",
    Invitation.Status.REVOKED: "was revoked",
    Invitation.Status.EXPIRED: "has expired",
}


def invitation_delivery(context: dict[str, Any]) -> dict[str, Any]:
    """The invitation's link for the email, or PermanentDeliveryError if it is not pending."""
    invitation_id = context.get("invitation_id") or ""
    try:
        invitation = Invitation.objects.filter(public_id=invitation_id).first()
    except ValidationError:  # not a UUID
        invitation = None
    if invitation is None:
        raise PermanentDeliveryError("The invitation no longer exists; the email was not sent.")
    if not invitation.is_usable:
        state = _NOT_PENDING.get(invitation.status, "has expired")
        raise PermanentDeliveryError(f"The invitation {state}; the email was not sent.")
    path = reverse("sharing:invitation", args=[links.make_token(invitation.public_id)])
    return {"invitation_url": absolute_url(path)}
