"""Real components for delivery tests: an SMTP server on loopback that answers as told, a Redis
of the test's own that it stops and restarts, and Celery worker (and beat) processes.

Used by tests/integration (the PostgreSQL + Redis leg) and, where no worker is needed, by
tests/notifications (both legs).
"""

import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection

from tests.notifications.brokers import free_port

BASE_DIR = Path(settings.BASE_DIR)
WAIT = 60  # seconds: generous for a cold worker start on a busy CI machine


def wait_for(condition: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"Timed out after {timeout}s waiting for {what}.")


def needs_real_services(settings) -> None:  # type: ignore[no-untyped-def]
    """Skip unless on the PostgreSQL + Redis leg; make Celery publish for real."""
    if not settings.CELERY_BROKER_URL:
        pytest.skip("needs a real broker: set CELERY_BROKER_URL")
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: set DATABASE_URL")
    settings.CELERY_TASK_ALWAYS_EAGER = False  # the autouse fixture made it eager


class Inbox:
    """An aiosmtpd handler that keeps what it accepts and answers as the test tells it.

    `rcpt_reply(address)` / `data_reply()` return None to accept, or a reply such as
    "451 4.7.1 Greylisted"; `hang_at` ("RCPT", "DATA" or "QUIT") holds that command until
    `release()` (QUIT after the 250 for DATA: the message is accepted, the client still waits).
    """

    def __init__(self) -> None:
        self.envelopes: list = []
        self.rcpt_reply: Callable[[str], str | None] = lambda address: None
        self.data_reply: Callable[[], str | None] = lambda: None
        self.hang_at = ""
        self.hanging = threading.Event()  # a command is being held now
        self._released = threading.Event()

    def release(self) -> None:
        self._released.set()

    async def _hold(self, command: str) -> None:
        if self.hang_at == command:
            self.hanging.set()
            while not self._released.is_set():
                await asyncio.sleep(0.05)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # type: ignore[no-untyped-def]
        await self._hold("RCPT")
        reply = self.rcpt_reply(address)
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        await self._hold("DATA")
        reply = self.data_reply()
        if reply:
            return reply
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"

    async def handle_QUIT(self, server, session, envelope):  # type: ignore[no-untyped-def]
        await self._hold("QUIT")
        return "221 Bye"

    def message_ids(self) -> list[str]:
        from email import message_from_bytes

        return [message_from_bytes(e.content)["Message-ID"] for e in self.envelopes]


def greylist(seconds: float) -> Callable[[str], str | None]:
    """An RCPT answer: 451 for each address until `seconds` after it was first seen."""
    first_seen: dict[str, float] = {}

    def reply(address: str) -> str | None:
        seen = first_seen.setdefault(address, time.monotonic())
        if time.monotonic() - seen < seconds:
            return "451 4.7.1 Greylisted, please try again later"
        return None

    return reply


@contextlib.contextmanager
def smtp_server() -> Iterator[tuple[Inbox, int]]:
    from aiosmtpd.controller import Controller

    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        inbox.release()
        controller.stop()


class OwnRedis:
    """A redis-server of the test's own on a free port, stopped and started by the test."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.directory = directory
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip("needs redis-server")
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.directory)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_for(self._answers, "redis-server to answer", 20)

    def _answers(self) -> bool:
        import redis

        try:
            return bool(redis.Redis(port=self.port, socket_connect_timeout=0.5).ping())
        except redis.ConnectionError:
            return False

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=20)
            self.process = None


@contextlib.contextmanager
def own_redis(directory: Path) -> Iterator[OwnRedis]:
    server = OwnRedis(directory)
    try:
        yield server
    finally:
        server.stop()


def worker_database_url() -> str:
    db = settings.DATABASES["default"]
    auth = quote(db.get("USER") or "postgres", safe="")
    if db.get("PASSWORD"):
        auth += ":" + quote(db["PASSWORD"], safe="")
    return (
        f"postgres://{auth}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"
    )


class Worker:
    """A real `celery worker` process (with beat when asked), logging to a file."""

    def __init__(self, process: subprocess.Popen, log: Path) -> None:
        self.process, self.log = process, log

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def assert_alive(self) -> None:
        assert self.process.poll() is None, f"The worker died:\n{self.text()[-3000:]}"

    def kill(self) -> None:
        """SIGKILL: no cleanup, no acknowledgement, claims left behind."""
        self.process.kill()
        self.process.wait(timeout=20)


@contextlib.contextmanager
def celery_worker(
    tmp_path: Path, *, smtp_port: int, broker_url: str = "", beat: bool = False, name: str = "w1",
    env: dict[str, str] | None = None,
) -> Iterator[Worker]:  # fmt: skip
    celery = Path(sys.executable).with_name("celery")
    command = [str(celery)] if celery.exists() else [sys.executable, "-m", "celery"]
    command += [
        "-A", "cimar_share", "worker", "--pool=solo", "-Q", "celery", "--concurrency", "1",
        "--purge", "--without-gossip", "--without-mingle", "--without-heartbeat",
        "-n", f"{name}-{os.getpid()}@%h", "--loglevel=INFO",
    ]  # fmt: skip
    if beat:
        command += ["--beat", "--schedule", str(tmp_path / f"beat-{name}")]
    process_env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "cimar_share.settings",
        "DATABASE_URL": worker_database_url(),  # the test database, not the one named in the env
        "CELERY_BROKER_URL": broker_url or settings.CELERY_BROKER_URL,
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(smtp_port),
        "EMAIL_USE_TLS": "0",
        **(env or {}),
    }
    log = tmp_path / f"worker-{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=BASE_DIR, env=process_env, stdout=out, stderr=subprocess.STDOUT
        )
    worker = Worker(process, log)
    try:
        wait_for(lambda: "ready." in worker.text() or process.poll() is not None, "a worker")
        worker.assert_alive()
        yield worker
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
