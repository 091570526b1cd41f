"""`{% absolute_url path %}`: a site path as the absolute link people open (notifications.links)."""

from django import template

from ..links import absolute_url as _absolute_url

register = template.Library()


@register.simple_tag
def absolute_url(path: str) -> str:
    return _absolute_url(str(path))
