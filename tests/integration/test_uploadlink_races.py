"""Concurrency on PostgreSQL: an upload link's uses hold when uploads complete at once.

100 browsers pass the gate of a max-uses-5 link and stage their files; then all of them
complete at once, each in its own thread and database connection through the whole stack
(test Client -> view -> service -> conditional UPDATE, ingest, commit). Exactly 5 are
ingested; the others are refused with nothing imported. The "naive" parameter swaps in a
read-then-write claim, and the same test then shows it over-counting.
"""

import time

import pytest
from django.db import connection
from django.test import Client

from studies.models import Instance, Study
from tests.integration.test_guestlink_races import hammer
from tests.uploadlinks.conftest import finish, open_gate, send_files, series_files, start
from uploadlinks import services
from uploadlinks.models import Upload, UploadLink

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="needs PostgreSQL: SQLite serialises writers, so these races cannot happen there",
    ),
]

UPLOADS = 100


def naive_claim_use(link_id):
    link = UploadLink.objects.get(pk=link_id)
    if not link.is_usable:
        return False
    time.sleep(0.02)
    UploadLink.objects.filter(pk=link_id).update(use_count=link.use_count + 1)
    return True


@pytest.fixture(autouse=True)
def _no_rate_limits(settings, tmp_path):
    settings.UPLOADLINK_RATE_LIMIT_PER_IP = 0
    settings.UPLOADLINK_RATE_LIMIT_PER_LINK = 0
    settings.UPLOADLINK_RATE_LIMIT_UPLOADS_PER_IP = 0
    settings.UPLOADLINK_STAGING_DIR = tmp_path / "staging"


@pytest.mark.parametrize("implementation", ["atomic", "naive"])
def test_100_concurrent_completed_uploads_on_a_5_use_link_accept_5(
    owner, worklist, monkeypatch, implementation
):
    if implementation == "naive":
        monkeypatch.setattr(services, "_claim_use", naive_claim_use)
    link = services.uploadlink_create(actor=owner, worklist=worklist, max_uses=5)
    staged = []
    for _ in range(UPLOADS):
        client = Client()
        assert open_gate(client, link).status_code == 303
        files = series_files(1)
        started = start(client, files).json()
        send_files(client, started, files)
        staged.append((client, started))

    statuses = hammer(lambda i: finish(staged[i][0], staged[i][1]).status_code, UPLOADS)

    accepted = statuses.count(200)
    print(f"{implementation}: {accepted} of {UPLOADS} concurrent uploads accepted (max uses 5)")
    if implementation == "naive":
        assert accepted > 5, "the naive read-then-write version should over-count"
        return
    assert accepted == 5 and statuses.count(410) == UPLOADS - 5
    link.refresh_from_db()
    assert link.use_count == 5 and link.state == "used_up"
    assert Upload.objects.filter(status="completed").count() == 5
    assert Upload.objects.filter(status="refused").count() == UPLOADS - 5
    assert Study.objects.count() == 5 and Instance.objects.count() == 5
