"""Absolute links for people outside a request: emails, SMS, and URLs shown to be copied.

SITE_URL is the one base for all of them (settings derive it from HOST and PORT when it is not
set), so a link in a message always matches the one the guest-link panel shows.
"""

from django.conf import settings


def absolute_url(path: str) -> str:
    """`path` (from `reverse` or `get_absolute_url`, starting with "/") under SITE_URL."""
    return f"{settings.SITE_URL.rstrip('/')}/{path.lstrip('/')}"
