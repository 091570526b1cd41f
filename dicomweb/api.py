"""What every DICOMweb API view shares: the scope, errors as text, 401 for no caller."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase

from accounts.referrer import send_no_referrer

from . import auditing
from .scope import Scope, Unauthenticated, scope_for

DICOM_JSON = "application/dicom+json"


class BadRequest(Exception):
    pass


def text(message: str, status: int) -> HttpResponse:
    return HttpResponse(message + "\n", status=status, content_type="text/plain; charset=utf-8")


def api_view(
    methods: tuple[str, ...] = ("GET", "HEAD"),
    need: str = "view_studies",
    audit: str | None = None,
) -> Callable[[Callable[..., HttpResponseBase]], Callable[..., HttpResponseBase]]:
    """Resolve the scope (`share_code` from the URL, or the whole root), answer errors as a
    client expects them: 400, 401 with a Bearer challenge, 403, 404, 405. `audit` (a kind of
    `dicomweb.auditing`) records the request in the audit trail, refusals included."""

    def decorate(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            share_code = kwargs.pop("share_code", None)
            response, denied = answer(request, share_code, *args, **kwargs)
            if audit is not None:
                auditing.record(
                    request,
                    kind=audit,
                    resource=view.__name__,
                    share_code=share_code,
                    kwargs=kwargs,
                    status=response.status_code,
                    denied=denied,
                )
            if not getattr(request.user, "is_authenticated", False):
                send_no_referrer(response)  # a guest, as on every guest page
            return response

        def answer(
            request: HttpRequest, share_code: str | None, *args: Any, **kwargs: Any
        ) -> tuple[HttpResponseBase, bool]:
            """The response, and whether it refused what the caller may not see."""
            if request.method not in methods:
                response = text(f"Use {' or '.join(methods)} here.", 405)
                response["Allow"] = ", ".join(methods)
                return response, False
            scope: Scope | None = None
            try:
                scope = scope_for(request, share_code, need)
                return view(request, scope, *args, **kwargs), False
            except Unauthenticated:
                response = text("Sign in, or send an API token as Authorization: Bearer.", 401)
                response["WWW-Authenticate"] = 'Bearer realm="dicomweb"'
                return response, False
            except BadRequest as error:
                return text(str(error), 400), False
            except PermissionDenied as error:
                return text(str(error) or "Not allowed.", 403), True
            except Http404 as error:
                # The worklist root refused, or the study is not one the caller may see.
                refused = scope is None or scope.denied
                return text(str(error) or "Not found.", 404), refused

        if "POST" not in methods:  # reads change nothing; STOW by session keeps its CSRF check
            wrapped.csrf_exempt = True  # type: ignore[attr-defined]
        return wrapped

    return decorate
