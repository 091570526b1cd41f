"""CORS on /dicomweb/ for the configured viewer origins only."""

import pytest

from .apidata import bearer, token  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db

VIEWER = "https://ohif.example.org"


def test_preflight_and_answers_for_a_configured_origin(client, settings, token):  # noqa: F811
    settings.DICOMWEB_CORS_ORIGINS = [VIEWER]
    preflight = client.options(
        "/dicomweb/studies",
        HTTP_ORIGIN=VIEWER,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization",
    )
    assert preflight.status_code == 204
    assert preflight["Access-Control-Allow-Origin"] == VIEWER
    assert "Authorization" in preflight["Access-Control-Allow-Headers"]
    assert "Access-Control-Allow-Credentials" not in preflight
    response = client.get("/dicomweb/studies", HTTP_ORIGIN=VIEWER, **bearer(token))
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == VIEWER
    assert "Origin" in response["Vary"]


def test_no_cors_for_other_origins_or_other_paths(client, settings, token):  # noqa: F811
    settings.DICOMWEB_CORS_ORIGINS = [VIEWER]
    other = client.get("/dicomweb/studies", HTTP_ORIGIN="https://evil.example", **bearer(token))
    assert "Access-Control-Allow-Origin" not in other
    page = client.get("/accounts/login/", HTTP_ORIGIN=VIEWER)
    assert "Access-Control-Allow-Origin" not in page
