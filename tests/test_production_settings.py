"""Production mode (DJANGO_DEBUG=0) refuses known and weak secret keys, and an https site passes
`manage.py check --deploy` (HSTS, the https redirect behind the proxy, secure cookies)."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(settings.BASE_DIR)
STRONG_KEY = secrets.token_urlsafe(50)
PRODUCTION = {
    "DJANGO_DEBUG": "0",
    "ALLOWED_HOSTS": "share.example.org",
    "SITE_URL": "https://share.example.org",
    "BEHIND_PROXY": "1",
}
# Every variable these tests set, removed from the inherited environment first.
OURS = {
    *PRODUCTION,
    "SECRET_KEY",
    "SECURE_COOKIES",
    "SECURE_SSL_REDIRECT",
    "HSTS_SECONDS",
    "HSTS_INCLUDE_SUBDOMAINS",
    "HSTS_PRELOAD",
    "DATABASE_URL",
    "DJANGO_ALLOW_ASYNC_UNSAFE",  # set for the browser tests in this process, never deployed
}


def manage(tmp_path, *args, **env):
    clean = {k: v for k, v in os.environ.items() if k not in OURS}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, "VAR_DIR": str(tmp_path), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    "key, why",
    [
        ("insecure-development-key-do-not-use-in-production-0123456789", "published"),
        ("collectstatic-only-not-a-secret-0123456789", "published"),
        ("k" * 64, "too weak"),  # long, but 1 distinct character
        ("abcd" * 20, "too weak"),  # 4 distinct characters
        (secrets.token_urlsafe(50)[:49], "too weak"),  # random, but 49 characters
        ("django-insecure-" + secrets.token_urlsafe(50), "django-insecure"),
        ("", "not set"),
    ],
)
def test_production_mode_refuses_a_known_or_weak_secret_key(tmp_path, key, why):
    result = manage(tmp_path, "check", **PRODUCTION, SECRET_KEY=key)
    assert result.returncode != 0
    assert "ImproperlyConfigured: SECRET_KEY" in result.stderr and why in result.stderr
    assert key not in result.stderr or not key  # the message never repeats the key


def test_check_deploy_passes_with_a_strong_key_and_an_https_site(tmp_path):
    result = manage(
        tmp_path,
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        **PRODUCTION,
        SECRET_KEY=STRONG_KEY,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


PRINT = (
    "from django.conf import settings as s; print(s.SECURE_HSTS_SECONDS, s.SECURE_SSL_REDIRECT, "
    "s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SESSION_COOKIE_NAME, s.CSRF_COOKIE_NAME)"
)


@pytest.mark.parametrize(
    "env, expected",
    [
        # Behind the proxy on https: HSTS for a year, redirect to https, secure cookies with
        # the __Host- prefix (Secure, Path=/, no Domain: a subdomain cannot plant them).
        ({}, "31536000 True True True __Host-sessionid __Host-csrftoken"),
        # https without BEHIND_PROXY: no request can tell https from http, so no redirect (it
        # would loop); HSTS is only ever sent on a request known to be https.
        ({"BEHIND_PROXY": "0"}, "31536000 False True True __Host-sessionid __Host-csrftoken"),
        # A loopback benchmark on http (DJANGO_DEBUG=0): nothing that needs https.
        (
            {"SITE_URL": "http://127.0.0.1:8000", "BEHIND_PROXY": "0"},
            "0 False False False sessionid csrftoken",
        ),
        (
            {"HSTS_SECONDS": "300", "SECURE_SSL_REDIRECT": "0"},
            "300 False True True __Host-sessionid __Host-csrftoken",
        ),
    ],
)
def test_https_settings_follow_the_site_url(tmp_path, env, expected):
    result = manage(tmp_path, "shell", "-c", PRINT, **{**PRODUCTION, **env}, SECRET_KEY=STRONG_KEY)
    assert result.stdout.strip().splitlines()[-1] == expected, result.stderr


def test_https_redirect_and_hsts_behind_the_proxy(client, settings):
    """What those settings do to a request (the proxy says which scheme the client used)."""
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    plain = client.get("/accounts/login/", HTTP_X_FORWARDED_PROTO="http")
    assert plain.status_code == 301 and plain["Location"].startswith("https://")
    secure = client.get("/accounts/login/", HTTP_X_FORWARDED_PROTO="https")
    assert secure.status_code == 200
    assert secure["Strict-Transport-Security"].startswith("max-age=31536000")


def test_make_static_collects_with_a_throwaway_key(tmp_path):
    """`make static` runs collectstatic in production mode, so it needs a key that passes."""
    clean = {k: v for k, v in os.environ.items() if k not in OURS}
    result = subprocess.run(
        # -o setup: the virtualenv is the one running these tests, not rebuilt.
        ["make", "-s", "-o", "setup", "static", f"BIN={Path(sys.executable).parent}"],
        cwd=ROOT,
        env={**clean, "VAR_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "staticfiles" / "staticfiles.json").exists()


def test_production_refuses_smtp_without_a_broker(tmp_path):
    env = {**PRODUCTION, "SECRET_KEY": STRONG_KEY, "EMAIL_HOST": "smtp.example.org"}
    clean = {"CELERY_BROKER_URL": "", "REDIS_URL": ""}
    refused = manage(tmp_path, "check", **env, **clean)
    assert refused.returncode != 0
    assert "EMAIL_HOST is set but CELERY_BROKER_URL is not" in refused.stderr
    broker = {"CELERY_BROKER_URL": "redis://127.0.0.1:6379/9", "REDIS_URL": ""}
    assert manage(tmp_path, "check", **env, **broker).returncode == 0
