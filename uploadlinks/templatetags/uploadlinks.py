"""`{% uploadlink_url link_id %}`: an upload link's full URL, derived when a message renders.

Outbox rows hold only the link's public id, so the table never contains a usable URL; a link
that no longer opens when the message renders makes it fail instead of going out (as for
guest links).
"""

from django import template

from notifications.errors import PermanentDeliveryError
from notifications.links import absolute_url

from ..models import UploadLink

register = template.Library()


class UploadLinkUnusable(PermanentDeliveryError):
    """The message is about an upload link that no longer opens."""


@register.simple_tag
def uploadlink_url(link_id: str) -> str:
    link = UploadLink.objects.filter(public_id=link_id).first()
    if link is None or not link.is_usable:
        state = link.state_label.lower() if link is not None else "gone"
        raise UploadLinkUnusable(f"The upload link is no longer usable ({state}); not sent.")
    return absolute_url(link.get_absolute_url())
