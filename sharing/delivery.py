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

from audit.models import AuditEvent
from audit.services import record_event
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


def invitation_delivered(
    *, context: dict[str, Any], channel: str, status: str, reason: str = ""
) -> None:
    """The audit event once an invitation email went out or failed for good."""
    invitation_id = context.get("invitation_id") or ""
    try:
        invitation = (
            Invitation.objects.filter(public_id=invitation_id).select_related("study").first()
        )
    except ValidationError:
        invitation = None
    record_event(
        action=AuditEvent.Action.INVITATION_DELIVERED,
        study_instance_uid=invitation.study.study_instance_uid if invitation is not None else "",
        outcome=AuditEvent.Outcome.SUCCESS if status == "sent" else AuditEvent.Outcome.FAILURE,
        details={
            "invitation": str(invitation_id),
            "channel": channel,
            "status": status,
            **({"reason": reason} if reason else {}),
        },
    )
