"""Server logs: every line once, and refused requests in one line without a traceback."""

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _env(tmp_path: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "LOG_LEVEL"}}
    return {**clean, "DJANGO_SETTINGS_MODULE": "cimar_share.settings", "VAR_DIR": str(tmp_path)}


def test_the_development_server_prints_each_line_once(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
        cwd=ROOT,
        env=_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/no-such-page/", timeout=10)
            except urllib.error.HTTPError as error:
                assert error.code == 404
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, "no server"
                time.sleep(0.2)
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=30)
    assert output.count("Not Found: /no-such-page/") == 1, output
    assert output.count('"GET /no-such-page/ HTTP/1.1" 404') == 1, output


REFUSE_THEN_FAIL = """
import logging

import django

django.setup()
from django.core.exceptions import PermissionDenied
from django.core.handlers.exception import response_for_exception
from django.test import RequestFactory

# What Django's handler does with a view that raises PermissionDenied.
try:
    raise PermissionDenied("Your role does not allow this.")
except PermissionDenied as refused:
    response = response_for_exception(RequestFactory().get("/refused/"), refused)
    assert response.status_code == 403
# And what it logs for a fault (a 500).
try:
    raise ValueError("a real fault")
except ValueError:
    logging.getLogger("django.request").error(
        "Internal Server Error: /broken/", exc_info=True, extra={"status_code": 500}
    )
"""


def test_a_refused_request_is_one_line_and_a_fault_keeps_its_traceback(tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", REFUSE_THEN_FAIL],
        cwd=ROOT,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    lines = result.stderr.splitlines()
    refused = [line for line in lines if "Forbidden (Permission denied): /refused/" in line]
    assert len(refused) == 1 and "WARNING" in refused[0], result.stderr
    assert "PermissionDenied" not in result.stderr
    assert result.stderr.count("Traceback (most recent call last)") == 1  # the fault's only
    assert "ValueError: a real fault" in result.stderr
