"""The guest-link invitation's delivery check (registered for "guestlink_invite"): see
links.delivery."""

from audit.models import AuditEvent
from links.delivery import link_delivery, link_delivery_recorder

from .models import GuestLink

guestlink_delivery = link_delivery(GuestLink, noun="guest link", url_name="guestlink_url")
guestlink_delivered = link_delivery_recorder(
    GuestLink, action=AuditEvent.Action.GUESTLINK_DELIVERED
)
