"""A claim left by a process that can be seen to be gone is recovered at the next sweep, not
after STALE_CLAIM; a live one, or one on another host, is left alone."""

import subprocess

import pytest
from django.core import mail
from django.utils import timezone

from notifications import services
from notifications.models import OutboundMessage
from notifications.tasks import sweep_pending

pytestmark = pytest.mark.django_db


@pytest.fixture
def dead_identity():
    process = subprocess.Popen(["sleep", "60"])
    identity = services.process_identity(process.pid)
    assert not services.claimant_is_gone(identity)
    process.kill()
    process.wait()
    return identity


def claimed_row(claimed_by: str) -> OutboundMessage:
    return OutboundMessage.objects.create(
        channel="email",
        recipient="ada@example.org",
        template="share_received",
        context={"sharer_name": "Dr Who", "study_path": "/studies/x/"},
        status="sending",
        attempts=1,
        claimed_at=timezone.now(),
        claimed_by=claimed_by,
    )


def test_whose_claim_is_gone(dead_identity):
    assert services.claimant_is_gone(dead_identity)
    assert not services.claimant_is_gone(services.process_identity())
    pid_elsewhere = services.process_identity().split(":", 1)[1]
    assert not services.claimant_is_gone(f"another-host:{pid_elsewhere}")  # cannot be seen
    assert not services.claimant_is_gone("")  # claimed before claims were signed


def test_a_reused_pid_is_not_the_claimant():
    host, pid, _ = services.process_identity().split(":")
    assert services.claimant_is_gone(f"{host}:{pid}:1")  # same pid, another start time


def test_the_sweep_recovers_a_dead_claim_at_once_and_sends_it_with_the_same_id(dead_identity):
    dead = claimed_row(dead_identity)
    live = claimed_row(services.process_identity())
    sweep_pending.apply()
    dead.refresh_from_db(), live.refresh_from_db()
    assert dead.status == "sent" and dead.attempts == 2
    assert live.status == "sending"
    [email] = mail.outbox
    assert email.extra_headers["Message-ID"] == dead.message_id_header
