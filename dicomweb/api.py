"""What every DICOMweb API view shares: the scope, errors as text, 401 for no caller."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase

from accounts.referrer import send_no_referrer

from .scope import Scope, Unauthenticated, scope_for

DICOM_JSON = "application/dicom+json"


class BadRequest(Exception):
    pass


def text(message: str, status: int) -> HttpResponse:
    return HttpResponse(message + "\n", status=status, content_type="text/plain; charset=utf-8")


def api_view(
    methods: tuple[str, ...] = ("GET", "HEAD"), need: str = "view_studies"
) -> Callable[[Callable[..., HttpResponseBase]], Callable[..., HttpResponseBase]]:
    """Resolve the scope (`share_code` from the URL, or the whole root), answer errors as a
    client expects them: 400, 401 with a Bearer challenge, 403, 404, 405."""

    def decorate(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            response = answer(request, *args, **kwargs)
            if not getattr(request.user, "is_authenticated", False):
                send_no_referrer(response)  # a guest, as on every guest page
            return response

        def answer(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            if request.method not in methods:
                response = text(f"Use {' or '.join(methods)} here.", 405)
                response["Allow"] = ", ".join(methods)
                return response
            try:
                scope: Scope = scope_for(request, kwargs.pop("share_code", None), need)
                return view(request, scope, *args, **kwargs)
            except Unauthenticated:
                response = text("Sign in, or send an API token as Authorization: Bearer.", 401)
                response["WWW-Authenticate"] = 'Bearer realm="dicomweb"'
                return response
            except BadRequest as error:
                return text(str(error), 400)
            except PermissionDenied as error:
                return text(str(error) or "Not allowed.", 403)
            except Http404 as error:
                return text(str(error) or "Not found.", 404)

        if "POST" not in methods:  # reads change nothing; STOW by session keeps its CSRF check
            wrapped.csrf_exempt = True  # type: ignore[attr-defined]
        return wrapped

    return decorate
