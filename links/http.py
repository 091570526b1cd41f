"""What every page behind a link's gate shares: headers, CSRF with `Origin: null`, and the
one page for every link that cannot be used."""

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.shortcuts import render
from django.utils.cache import add_never_cache_headers
from django.utils.decorators import decorator_from_middleware
from django.views.decorators.csrf import csrf_exempt

from accounts.referrer import send_no_referrer


def link_page(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Headers for every page a link's visitor sees. Their Content-Security-Policy is the one of
    every page (settings.CONTENT_SECURITY_POLICY, django-csp)."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = view(request, *args, **kwargs)
        add_never_cache_headers(response)  # Cache-Control: ... no-cache, no-store, private
        send_no_referrer(response)
        response["X-Robots-Tag"] = "noindex, nofollow"
        return response

    return wrapped


class LinkCsrf(CsrfViewMiddleware):
    """CSRF for the forms behind a link. Those pages send `Referrer-Policy: no-referrer`, so
    browsers send `Origin: null` with their POSTs; that origin is accepted and the CSRF token
    (cookie plus form field or X-CSRFToken header, SameSite=Lax) is checked as for every
    other form. `_origin_verified` is Django's private hook: see README "Upgrade notes" and
    tests/test_django_internals.py."""

    def _origin_verified(self, request: HttpRequest) -> bool:
        if request.META.get("HTTP_ORIGIN") == "null":
            return True
        return bool(super()._origin_verified(request))  # type: ignore[misc]


def link_csrf_protect(view: Callable[..., HttpResponse]) -> Callable[..., Any]:
    return csrf_exempt(decorator_from_middleware(LinkCsrf)(view))


def unavailable(request: HttpRequest, context: dict[str, Any] | None = None) -> HttpResponse:
    """One page, one status for every link that cannot be used, whatever the reason or kind."""
    return render(request, "links/unavailable.html", context or {}, status=404)


def too_many(request: HttpRequest, retry_after: int | None) -> HttpResponse:
    """The same page whatever the link's state: it tells nothing about the link."""
    wait = retry_after or 60
    response = render(
        request, "links/too_many.html", {"minutes": max(1, round(wait / 60))}, status=429
    )
    response["Retry-After"] = str(wait)
    return response
