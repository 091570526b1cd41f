"""`{% guestlink_url link_id %}`: a link's full guest URL, derived when a message renders.

Outbox rows hold only the link's public id, so the table never contains a usable URL.
"""

from django import template
from django.conf import settings

from ..models import GuestLink

register = template.Library()


@register.simple_tag
def guestlink_url(link_id: str) -> str:
    link = GuestLink.objects.filter(public_id=link_id).only("secret").first()
    if link is None:
        return ""
    return f"{settings.SITE_URL}{link.get_absolute_url()}"
