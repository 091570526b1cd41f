"""A share by email, delivered by a real Celery worker through a real SMTP server, exactly once.

Runs on the PostgreSQL + Redis leg (DATABASE_URL and CELERY_BROKER_URL set); skipped otherwise.
"""

import time
from collections.abc import Iterator

import pytest

from notifications.models import OutboundMessage
from notifications.tasks import deliver_message, sweep_pending
from sharing.services import ShareTarget, studies_share
from tests.integration import realworld
from tests.integration.realworld import Inbox, Worker, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def smtp_server(settings) -> Iterator[tuple[Inbox, int]]:
    realworld.needs_real_services(settings)
    with realworld.smtp_server() as server:
        yield server


@pytest.fixture
def celery_worker(smtp_server, tmp_path) -> Iterator[Worker]:
    with realworld.celery_worker(tmp_path, smtp_port=smtp_server[1]) as worker:
        yield worker


def test_a_real_worker_delivers_the_invitation_once_through_smtp(
    smtp_server, celery_worker, owner, worklist, study
):
    inbox, _ = smtp_server
    worker = celery_worker

    studies_share(
        actor=owner,
        studies=[study],
        source_worklist=worklist,
        targets=[ShareTarget("email", "new.doc@clinic.example")],
    )  # commits; on commit the task goes to Redis and the worker picks it up

    def delivered() -> bool:
        worker.assert_alive()
        return len(inbox.envelopes) >= 1

    wait_for(delivered, "the invitation to arrive at the SMTP server")
    message = OutboundMessage.objects.get()
    wait_for(lambda: OutboundMessage.objects.get().status == "sent", "the row to say sent", 20)

    # A duplicate task and a sweep must not send it again.
    deliver_message.delay(message.pk)
    sweep_pending.delay()
    wait_for(
        lambda: worker.text().count("succeeded in") >= 3,
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
