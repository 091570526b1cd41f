"""The guest-link invitation's delivery check (registered for "guestlink_invite"): see
links.delivery."""

from links.delivery import link_delivery

from .models import GuestLink

guestlink_delivery = link_delivery(GuestLink, noun="guest link", url_name="guestlink_url")
