"""CORS for /dicomweb/, so that a web viewer served elsewhere (OHIF) can call it: only the
origins in DICOMWEB_CORS_ORIGINS, and without cookies (it authenticates with a Bearer token)."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

ALLOWED_HEADERS = "Authorization, Accept, Content-Type, If-None-Match"
EXPOSED_HEADERS = "Content-Type, Content-Length, ETag, Warning"


class DicomwebCorsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        origin = request.headers.get("Origin", "")
        allowed = (
            request.path.startswith("/dicomweb/")
            and origin != ""
            and origin in settings.DICOMWEB_CORS_ORIGINS
        )
        if (
            allowed
            and request.method == "OPTIONS"
            and "Access-Control-Request-Method" in request.headers
        ):
            response = HttpResponse(status=204)
            response["Access-Control-Allow-Methods"] = "GET, HEAD, POST, OPTIONS"
            response["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
            response["Access-Control-Max-Age"] = "600"
        else:
            response = self.get_response(request)
        if allowed:
            response["Access-Control-Allow-Origin"] = origin
            response["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
        if request.path.startswith("/dicomweb/"):
            vary = response.get("Vary", "")
            if "origin" not in vary.lower():
                response["Vary"] = f"{vary}, Origin" if vary else "Origin"
        return response
