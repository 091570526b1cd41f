"""Referrer-Policy, decided here and nowhere else.

Every response carries SECURE_REFERRER_POLICY ("same-origin", added by Django's
SecurityMiddleware when a response has none). Two kinds send no referrer at all, so that neither
a token nor a patient's study leaks to whatever a page links to or loads:
- a page whose URL holds a token (the guest gate, an email invitation link);
- everything a guest is shown: guest pages, the guest viewer, and the images and JSON it loads.

Views take `@no_referrer`; code that builds a response for a guest calls `send_no_referrer`.
Forms on a no-referrer page are posted by browsers with `Origin: null`: see how the guest gate
checks CSRF (guestlinks.views.guest_csrf_protect).
"""

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from django.http import HttpRequest, HttpResponseBase

NO_REFERRER = "no-referrer"

Response = TypeVar("Response", bound=HttpResponseBase)


def send_no_referrer(response: Response) -> Response:
    """This response tells the browser to send no Referer from it."""
    response.headers["Referrer-Policy"] = NO_REFERRER
    return response


def no_referrer(view: Callable[..., Response]) -> Callable[..., Response]:
    """View decorator: every response of the view sends no referrer."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> Response:
        return send_no_referrer(view(request, *args, **kwargs))

    return wrapped
