"""No token or password in the logs: the filter configured in LOGGING masks them by shape, and
the whole run's log is searched for every secret the run made (tests/logleaks.py)."""

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth.tokens import default_token_generator

from accounts.services import api_token_create
from guestlinks import services as guestlink_services
from links.logs import redact
from sharing import invitations
from tests.logleaks import RunLog, Secrets, configured_handler, leaks
from uploadlinks import services as uploadlink_services

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789_-abcde"  # 43 characters, as a link's


@pytest.mark.parametrize(
    "line, kept",
    [
        (f"Not Found: /g/{TOKEN}/", "Not Found: /g/<token>/"),
        (f'"POST /u/{TOKEN}/ HTTP/1.1" 429 12', '"POST /u/<token>/ HTTP/1.1" 429 12'),
        ("GET /sharing/invite/ImFiYyI:1tXyZ:abcDEF_12/", "GET /sharing/invite/<token>/"),
        ("GET /accounts/reset/MQ/cd7-0a1b2c3d4e5f/", "GET /accounts/reset/MQ/<token>/"),
        ("Authorization: Bearer cs_" + TOKEN, "Authorization: Bearer <token>"),
        ("token cs_" + TOKEN + " refused", "token cs_<token> refused"),
        ("/search?q=x&password=hunter2&next=/", "/search?q=x&password=<redacted>&next=/"),
        (
            "{'password': 'hunter2', 'username': 'ann'}",
            "{'password': '<redacted>', 'username': 'ann'}",
        ),
        ('{"new_password1": "s3cret!"}', '{"new_password1": "<redacted>"}'),
        ("csrfmiddlewaretoken=abc123&x=1", "csrfmiddlewaretoken=<redacted>&x=1"),
    ],
)
def test_the_filter_masks_each_shape(line, kept):
    assert redact(line) == kept


def test_every_kind_of_secret_is_collected(log_leak_guard, owner, study, worklist):
    guest = guestlink_services.guestlink_create(
        actor=owner, study=study, worklist=worklist, password="guest pass 771"
    )
    upload = uploadlink_services.uploadlink_create(actor=owner, worklist=worklist)
    _, api_token = api_token_create(user=owner, name="viewer")
    reset = default_token_generator.make_token(owner)
    invite = invitations.make_token(guest.public_id)
    found = log_leak_guard.found
    assert found[guest.token] == found[upload.token] == "link token"
    assert found["guest pass 771"] == "password"
    assert found[api_token] == "API token"
    assert found[reset] == "password-reset token"
    assert found[invite] == "invitation token"


def isolated_logger(handler: logging.Handler) -> logging.Logger:
    """A logger that writes to `handler` only (not to the whole run's log)."""
    logger = logging.getLogger("tests.log_leaks.isolated")
    logger.handlers = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger


def test_a_token_logged_without_the_filter_is_caught_and_with_it_is_not():
    secrets = Secrets()
    secrets.add("link token", TOKEN)
    unfiltered = RunLog(None)
    isolated_logger(unfiltered).warning("Not Found: /g/%s/", TOKEN)
    assert leaks(unfiltered.lines, secrets) == [
        f"a link token (AbCd...) is in the log: Not Found: /g/{TOKEN}/"
    ]
    filtered = RunLog(configured_handler())
    isolated_logger(filtered).warning("Not Found: /g/%s/", TOKEN)
    assert filtered.lines and leaks(filtered.lines, secrets) == []


def test_a_traceback_is_masked_too():
    filtered = RunLog(configured_handler())
    try:
        raise ValueError(f"cannot open /g/{TOKEN}/")
    except ValueError:
        isolated_logger(filtered).exception("Internal Server Error: /g/%s/", TOKEN)
    assert TOKEN not in "\n".join(filtered.lines)
    assert "cannot open /g/<token>/" in filtered.lines[0]


def test_the_whole_run_fails_when_a_secret_reaches_the_log(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/logleak_probe.py"],
        cwd=ROOT,
        env={**env, "VAR_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "Secrets in the logs:" in output and "a password (prob...)" in output, output
    assert "1 passed, 1 error" in output, output
