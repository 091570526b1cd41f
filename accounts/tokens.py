"""API tokens: their form, their digest, and the Bearer authentication of API requests."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone

PREFIX = "cs_"


def new_token() -> str:
    return PREFIX + secrets.token_urlsafe(32)  # 256 bits


def token_digest(token: str) -> str:
    key = settings.SECRET_KEY.encode()
    return hmac.new(key, b"api-token:" + token.encode(), hashlib.sha256).hexdigest()


def api_token_for(token: str) -> Any | None:
    """The unrevoked token of an active user (with its user); None for anything else."""
    from .models import ApiToken

    if not token.startswith(PREFIX) or len(token) > 100:
        return None
    digest = token_digest(token)
    found = (
        ApiToken.objects.select_related("user")
        .filter(digest=digest, revoked_at__isnull=True, user__is_active=True)
        .first()
    )
    # Found by an index on the digest; compared again in constant time all the same.
    if found is None or not hmac.compare_digest(found.digest, digest):
        return None
    now = timezone.now()
    if found.last_used_at is None or now - found.last_used_at > timedelta(minutes=5):
        ApiToken.objects.filter(pk=found.pk).update(last_used_at=now)
    return found


def _unauthorised(message: str) -> HttpResponse:
    response = JsonResponse({"error": "invalid_token", "message": message}, status=401)
    response["WWW-Authenticate"] = 'Bearer realm="dicomweb", error="invalid_token"'
    return response


class BearerTokenMiddleware:
    """`Authorization: Bearer <token>` on the API paths (API_TOKEN_PATHS) signs the request in
    as the token's user for that request only; no session, and no CSRF check (a bearer token is
    never sent by a browser on its own). A token that is wrong or revoked is a 401."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        header = request.headers.get("Authorization", "")
        if header[:7].lower() == "bearer " and request.path.startswith(
            tuple(settings.API_TOKEN_PATHS)
        ):
            found = api_token_for(header[7:].strip())
            if found is None:
                return _unauthorised("The API token is not valid, or it was revoked.")
            request.user = found.user
            request._dont_enforce_csrf_checks = True  # type: ignore[attr-defined]
            # The token itself (truthy): the audit trail names it (audit.services.record_event).
            request.api_token = found  # type: ignore[attr-defined]
        return self.get_response(request)
