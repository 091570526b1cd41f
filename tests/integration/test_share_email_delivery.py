"""A share by email, delivered by a real Celery worker through a real SMTP server, exactly once.

Runs on the PostgreSQL + Redis leg (DATABASE_URL and CELERY_BROKER_URL set); skipped otherwise.
"""

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection

from notifications.models import OutboundMessage
from notifications.tasks import deliver_message, sweep_pending
from sharing.services import ShareTarget, studies_share

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

BASE_DIR = Path(settings.BASE_DIR)
WAIT = 60  # seconds: generous for a cold worker start on a busy CI machine


def wait_for(condition: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"Timed out after {timeout}s waiting for {what}.")


@pytest.fixture
def real_services(settings):
    if not settings.CELERY_BROKER_URL:
        pytest.skip("needs a real broker: set CELERY_BROKER_URL")
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: set DATABASE_URL")
    settings.CELERY_TASK_ALWAYS_EAGER = False  # the autouse fixture made it eager


class Inbox:
    """An aiosmtpd handler that keeps every message it receives."""

    def __init__(self) -> None:
        self.envelopes: list = []

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def smtp_server(real_services) -> Iterator[tuple[Inbox, int]]:
    from aiosmtpd.controller import Controller

    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


def worker_database_url() -> str:
    db = settings.DATABASES["default"]
    auth = quote(db.get("USER") or "postgres", safe="")
    if db.get("PASSWORD"):
        auth += ":" + quote(db["PASSWORD"], safe="")
    return (
        f"postgres://{auth}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"
    )


@pytest.fixture
def celery_worker(smtp_server, tmp_path) -> Iterator[tuple[subprocess.Popen, Path]]:
    _, port = smtp_server
    celery = Path(sys.executable).with_name("celery")
    command = [str(celery)] if celery.exists() else [sys.executable, "-m", "celery"]
    command += [
        "-A", "cimar_share", "worker", "--pool=solo", "-Q", "celery", "--concurrency", "1",
        "--purge", "--without-gossip", "--without-mingle", "--without-heartbeat",
        "-n", f"share-delivery-{os.getpid()}@%h", "--loglevel=INFO",
    ]  # fmt: skip
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "cimar_share.settings",
        "DATABASE_URL": worker_database_url(),  # the test database, not the one named in the env
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(port),
        "EMAIL_USE_TLS": "0",
    }
    log = tmp_path / "worker.log"
    with log.open("wb") as out:
        worker = subprocess.Popen(
            command, cwd=BASE_DIR, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        wait_for(
            lambda: "ready." in log.read_text() or worker.poll() is not None, "the worker to start"
        )
        assert worker.poll() is None, f"The worker exited:\n{log.read_text()[-3000:]}"
        yield worker, log
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait(timeout=10)


def test_a_real_worker_delivers_the_invitation_once_through_smtp(
    smtp_server, celery_worker, owner, worklist, study
):
    inbox, _ = smtp_server
    worker, log = celery_worker

    studies_share(
        actor=owner,
        studies=[study],
        source_worklist=worklist,
        targets=[ShareTarget("email", "new.doc@clinic.example")],
    )  # commits; on commit the task goes to Redis and the worker picks it up

    def delivered() -> bool:
        assert worker.poll() is None, f"The worker died:\n{log.read_text()[-3000:]}"
        return len(inbox.envelopes) >= 1

    wait_for(delivered, "the invitation to arrive at the SMTP server")
    message = OutboundMessage.objects.get()
    wait_for(lambda: OutboundMessage.objects.get().status == "sent", "the row to say sent", 20)

    # A duplicate task and a sweep must not send it again.
    deliver_message.delay(message.pk)
    sweep_pending.delay()
    wait_for(
        lambda: log.read_text().count("succeeded in") >= 3,
        "the worker to finish the duplicate and the sweep",
    )
    time.sleep(0.5)

    assert len(inbox.envelopes) == 1
    envelope = inbox.envelopes[0]
    assert envelope.rcpt_tos == ["new.doc@clinic.example"]
    raw = envelope.content.decode("utf-8", "replace")
    assert "shared a study with you on Cimar Share" in raw
    assert "Content-Type: text/html" in raw and "Content-Type: text/plain" in raw
    for phi in (study.patient_name, study.patient_id, study.accession_number):
        assert phi not in raw
    message.refresh_from_db()
    assert message.status == "sent" and message.attempts == 1 and message.sent_at is not None
