"""The Procfile and compose.yaml name commands that exist and start.

Every process type of the Procfile is in compose.yaml with the same program; each program is
installed. The web command starts and answers /healthz on loopback (both legs); the release
command migrates a fresh database; the worker and beat start against the real broker (the
PostgreSQL + Redis leg); the DICOM Storage SCP starts, answers an association, and stops on
SIGTERM (both legs).
"""

import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings

ROOT = Path(settings.BASE_DIR)
BIN = Path(sys.executable).parent


def procfile() -> dict[str, str]:
    entries = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, command = line.split(":", 1)
            entries[name.strip()] = command.strip()
    return entries


def compose_commands() -> dict[str, str]:
    """service -> command, read from compose.yaml's `command:` lines (no YAML library needed)."""
    services: dict[str, str] = {}
    current = None
    for line in (ROOT / "compose.yaml").read_text().splitlines():
        service = re.match(r"^  ([a-z][a-z-]*):\s*$", line)
        if service:
            current = service.group(1)
        command = re.match(r"^    command: (.+)$", line)
        if command and current:
            services[current] = command.group(1).strip()
    return services


def expand(command: str, **env: str) -> list[str]:
    """The command as a shell would run it: ${VAR:-default} expanded, the program from the venv."""

    def value(match: re.Match) -> str:
        return env.get(match.group(1)) or os.environ.get(match.group(1)) or match.group(2)

    words = shlex.split(re.sub(r"\$\{(\w+):-([^}]*)\}", value, command))
    program = shutil.which(words[0], path=str(BIN)) or shutil.which(words[0])
    assert program, f"{words[0]} is not installed"
    return [program, *words[1:]]


def test_procfile_and_compose_name_the_same_processes_and_programs():
    procs, services = procfile(), compose_commands()
    assert set(procs) == {"release", "web", "worker", "beat", "dicom"}
    assert {"web", "worker", "beat", "dicom"} <= set(services)
    for name in ("web", "worker", "beat", "dicom"):
        assert shlex.split(procs[name])[:3] == shlex.split(services[name])[:3]
    assert services["migrate"] == procs["release"]
    for command in [*procs.values(), *services.values()]:
        expand(command)  # the program exists


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run_env(tmp_path: Path) -> dict[str, str]:
    """This process's environment, on the test database (PostgreSQL) or a fresh SQLite file."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "DJANGO_ALLOW"))}
    env.update(VAR_DIR=str(tmp_path), MEDIA_ROOT=str(tmp_path / "media"))
    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("postgresql"):
        auth = quote(db.get("USER") or "postgres", safe="")
        if db.get("PASSWORD"):
            auth += ":" + quote(db["PASSWORD"], safe="")
        host = f"{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}"
        env["DATABASE_URL"] = f"postgres://{auth}@{host}/{db['NAME']}"
    else:
        env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    return env


@pytest.mark.django_db(transaction=True)
def test_release_then_web_start_and_answer_healthz(tmp_path):
    env = run_env(tmp_path)
    release = subprocess.run(
        expand(procfile()["release"]), cwd=ROOT, env=env, capture_output=True, timeout=300
    )
    assert release.returncode == 0, release.stderr.decode()[-2000:]

    port = free_port()
    env.update(PORT=str(port), GUNICORN_WORKERS="1")
    command = expand(procfile()["web"], PORT=str(port))
    command[command.index("0.0.0.0:" + str(port))] = f"127.0.0.1:{port}"  # loopback only
    web = subprocess.Popen(command, cwd=ROOT, env=env, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:
                    assert r.status == 200
                    break
            except OSError:
                assert web.poll() is None, web.stderr.read().decode()[-2000:]  # type: ignore[union-attr]
                assert time.monotonic() < deadline, "web did not answer /healthz in 60 s"
                time.sleep(0.3)
    finally:
        web.terminate()
        web.wait(timeout=30)


@pytest.mark.integration
@pytest.mark.parametrize(("name", "ready"), [("worker", "ready."), ("beat", "beat: Starting")])
def test_worker_and_beat_start(tmp_path, name, ready):
    if not settings.CELERY_BROKER_URL:
        pytest.skip("needs a real broker: set CELERY_BROKER_URL")
    env = run_env(tmp_path)
    process = subprocess.Popen(
        expand(procfile()[name], VAR_DIR=str(tmp_path)),
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    seen = b""
    try:
        deadline = time.monotonic() + 90
        while ready.encode() not in seen:
            assert process.poll() is None, seen.decode()[-2000:]
            assert time.monotonic() < deadline, f"{name} did not start: {seen.decode()[-2000:]}"
            line = process.stdout.readline()  # type: ignore[union-attr]
            seen += line
    finally:
        # Drain the pipe while it stops (a process blocked writing to a full pipe cannot act
        # on SIGTERM); stopping cleanly is not what this test checks.
        process.terminate()
        try:
            process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()


@pytest.mark.django_db(transaction=True)
def test_dicom_scp_starts_answers_and_stops_on_sigterm(tmp_path):
    from pynetdicom import AE
    from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]

    env = run_env(tmp_path)
    if env["DATABASE_URL"].startswith("sqlite"):  # a fresh file: the SCP reads remote nodes
        release = subprocess.run(
            expand(procfile()["release"]), cwd=ROOT, env=env, capture_output=True, timeout=300
        )
        assert release.returncode == 0, release.stderr.decode()[-2000:]
    port = free_port()
    env.update(DICOM_SCP_BIND="127.0.0.1", DICOM_SCP_PORT=str(port))
    process = subprocess.Popen(
        expand(procfile()["dicom"]),
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        seen = process.stdout.readline()  # type: ignore[union-attr]
        assert f"listening on 127.0.0.1:{port}".encode() in seen, seen.decode()
        # An unregistered caller: refused at association, by the SCP after asking the database.
        ae = AE(ae_title="NOT_REGISTERED")
        ae.add_requested_context(Verification)
        assoc = ae.associate("127.0.0.1", port, ae_title="ANY")
        assert assoc.is_rejected
        assert (assoc.acceptor.primitive.result, assoc.acceptor.primitive.diagnostic) == (1, 3)
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
        assert process.returncode == 0, output.decode()[-2000:]
        assert b"Stopped." in output
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
