"""`/healthz`: database, cache and broker, for load balancers; nothing else is revealed."""

import json
import logging

import pytest

from cimar_share import health
from cimar_share.logfilters import JsonFormatter

pytestmark = pytest.mark.django_db


def test_healthy_answers_200_with_each_check(client):
    response = client.get("/healthz", HTTP_HOST="10.1.2.3:8000")  # by address, not a site name
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response["Cache-Control"] == "no-store"
    assert json.loads(response.content) == {
        "status": "ok",
        "checks": {"database": "ok", "cache": "ok", "broker": "not used"},
    }
    assert not response.cookies  # no session, no CSRF cookie


def test_a_failing_check_answers_503_naming_it_and_nothing_more(client, monkeypatch, caplog):
    def broken() -> None:
        raise ConnectionError("could not reach cache-7.internal:6379 password=hunter2")

    monkeypatch.setitem(health.CHECKS, "cache", broken)
    with caplog.at_level(logging.WARNING, logger="cimar_share.health"):
        response = client.get("/healthz")
    assert response.status_code == 503
    body = response.content.decode()
    assert json.loads(body) == {
        "status": "failed",
        "checks": {"database": "ok", "cache": "failed", "broker": "not used"},
    }
    assert "internal" not in body and "hunter2" not in body
    assert "health check cache failed" in caplog.text  # the reason is for the operator's log


def test_an_unreachable_broker_fails_the_check(client, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:9/0"  # discard port: nothing listens
    response = client.get("/healthz")
    assert response.status_code == 503
    assert json.loads(response.content)["checks"]["broker"] == "failed"


def test_only_get_and_head(client):
    assert client.post("/healthz").status_code == 405
    assert client.head("/healthz").status_code == 200


def test_json_log_lines():
    record = logging.LogRecord(
        "django.request", logging.ERROR, __file__, 1, "Bad %s", ("thing",), None
    )
    record.status_code = 500
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        record.exc_info = sys.exc_info()
    line = JsonFormatter().format(record)
    entry = json.loads(line)
    assert "\n" not in line
    assert entry["level"] == "ERROR"
    assert entry["logger"] == "django.request"
    assert entry["message"] == "Bad thing"
    assert entry["status"] == 500
    assert "ValueError: boom" in entry["exception"]
