"""`/healthz` for load balancers: can this process reach the database, the cache and the broker?

Answered by a middleware placed first, before host validation, the HTTPS redirect and the
session: a load balancer probes by address over plain http, without cookies. The answer names
each check and whether it passed ("ok" or "failed"), nothing more: no versions, hosts, errors or
timings. 200 when every check passes, 503 otherwise. The broker is checked only when one is
configured (without one, tasks run eagerly in the web process: "not used").
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, HttpResponse

log = logging.getLogger(__name__)
PATH = "/healthz"
BROKER_TIMEOUT_SECONDS = 2.0


def check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def check_cache() -> None:
    key, value = f"healthz:{secrets.token_hex(8)}", secrets.token_hex(8)
    cache.set(key, value, 10)
    if cache.get(key) != value:
        raise RuntimeError("cache did not return what was stored")
    cache.delete(key)


def check_broker() -> str:
    if getattr(settings, "CELERY_TASK_ALWAYS_EAGER", False):
        return "not used"
    from kombu import Connection

    with Connection(settings.CELERY_BROKER_URL, connect_timeout=BROKER_TIMEOUT_SECONDS) as broker:
        broker.ensure_connection(max_retries=1, timeout=BROKER_TIMEOUT_SECONDS)
    return "ok"


CHECKS: dict[str, Callable[[], Any]] = {
    "database": check_database,
    "cache": check_cache,
    "broker": check_broker,
}


def health() -> tuple[bool, dict[str, str]]:
    results: dict[str, str] = {}
    for name, check in CHECKS.items():
        try:
            outcome = check()
            results[name] = outcome if isinstance(outcome, str) else "ok"
        except Exception:  # any failure is "failed"; the reason goes to the log, not the answer
            log.warning("health check %s failed", name, exc_info=True)
            results[name] = "failed"
    return all(value != "failed" for value in results.values()), results


class HealthCheckMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path != PATH:
            return self.get_response(request)
        if request.method not in ("GET", "HEAD"):
            return HttpResponse(status=405, headers={"Allow": "GET, HEAD"})
        healthy, results = health()
        response = HttpResponse(
            json.dumps({"status": "ok" if healthy else "failed", "checks": results}),
            content_type="application/json",
            status=200 if healthy else 503,
        )
        response["Cache-Control"] = "no-store"
        return response
