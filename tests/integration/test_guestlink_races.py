"""Concurrency on PostgreSQL: guest link counters hold under parallel requests.

Each request runs in its own thread with its own database connection, through the whole Django
stack (test Client → middleware → view → service → conditional UPDATE). The "naive" parameter
swaps in a read-then-write version of the claim, and the same test then asserts that it
over-counts: that is what shows the test can catch the race it is about.
"""

import threading
import time

import pytest
from django.contrib.sessions.models import Session
from django.db import connection, connections
from django.test import Client

from guestlinks import services
from guestlinks.access import SESSION_KEY
from guestlinks.models import GuestLink, GuestLinkAccess

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="needs PostgreSQL: SQLite serialises writers, so these races cannot happen there",
    ),
]

WORKERS = 20  # threads (each one database connection) hammering at once


def hammer(call, times, workers=WORKERS):
    """Run call(i) for i in range(times) from `workers` threads released together."""
    barrier = threading.Barrier(workers)
    lock = threading.Lock()
    pending = iter(range(times))
    results, errors = [], []

    def worker():
        try:
            barrier.wait()
            while True:
                with lock:
                    index = next(pending, None)
                if index is None:
                    return
                outcome = call(index)
                with lock:
                    results.append(outcome)
        except Exception as error:  # surfaced in the test thread below
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results


def naive_claim_use(link_id):
    """Read, decide in Python, write back: the race the real claim avoids."""
    link = GuestLink.objects.get(pk=link_id)
    if not link.is_usable:
        return False
    time.sleep(0.02)  # any work between the read and the write widens the window
    GuestLink.objects.filter(pk=link_id).update(use_count=link.use_count + 1)
    return True


def naive_claim_attempt(link_id):
    link = GuestLink.objects.get(pk=link_id)
    if link.locked_at or link.password_attempts >= link.max_password_attempts:
        return False
    time.sleep(0.02)
    GuestLink.objects.filter(pk=link_id).update(password_attempts=link.password_attempts + 1)
    return True


@pytest.fixture(autouse=True)
def _no_rate_limits(settings):
    # Every request comes from 127.0.0.1: let them all reach the counters.
    settings.GUESTLINK_RATE_LIMIT_PER_IP = 0
    settings.GUESTLINK_RATE_LIMIT_PER_LINK = 0
    settings.GUESTLINK_RATE_LIMIT_GUESSES_PER_IP = 0


def guest_sessions():
    return sum(1 for session in Session.objects.all() if SESSION_KEY in session.get_decoded())


@pytest.mark.parametrize("implementation", ["atomic", "naive"])
def test_200_concurrent_opens_of_a_5_use_link_give_5_sessions(
    owner, study, worklist, monkeypatch, implementation
):
    if implementation == "naive":
        monkeypatch.setattr(services, "_claim_use", naive_claim_use)
    link = services.guestlink_create(actor=owner, study=study, worklist=worklist, max_uses=5)
    url = link.get_absolute_url()

    statuses = hammer(lambda _: Client().post(url).status_code, 200)

    opened = statuses.count(303)
    print(f"{implementation}: {opened} of 200 concurrent opens got a session (max uses 5)")
    if implementation == "naive":
        assert opened > 5, "the naive read-then-write version should over-count"
        return
    assert opened == 5 and statuses.count(404) == 195
    assert guest_sessions() == 5
    link.refresh_from_db()
    assert link.use_count == 5 and link.state == "used_up"
    assert GuestLinkAccess.objects.filter(link=link, outcome="opened").count() == 5
    assert GuestLinkAccess.objects.filter(link=link, outcome="refused").count() == 195


@pytest.mark.parametrize("implementation", ["atomic", "naive"])
def test_100_parallel_wrong_passwords_give_5_checks_and_a_lock(
    owner, study, worklist, monkeypatch, implementation
):
    if implementation == "naive":
        monkeypatch.setattr(services, "_claim_attempt", naive_claim_attempt)
    checks = []
    lock = threading.Lock()
    real_check = services._password_matches

    def counting_check(link, password):
        with lock:
            checks.append(password)
        return real_check(link, password)

    monkeypatch.setattr(services, "_password_matches", counting_check)
    link = services.guestlink_create(
        actor=owner,
        study=study,
        worklist=worklist,
        password="the-right-one",
        max_password_attempts=5,
        max_uses=10,
    )
    url = link.get_absolute_url()

    statuses = hammer(lambda i: Client().post(url, {"password": f"wrong-{i}"}).status_code, 100)

    print(f"{implementation}: {len(checks)} password checks for 100 parallel wrong passwords")
    if implementation == "naive":
        assert len(checks) > 5, "the naive read-then-write version should check too many"
        return
    assert len(checks) == 5
    # Wrong with attempts left (403), or refused once the attempts are gone (404).
    assert statuses.count(403) <= 4 and statuses.count(403) + statuses.count(404) == 100
    link.refresh_from_db()
    assert link.locked_at is not None and link.state == "locked"
    assert link.password_attempts == 5 and link.password_failures == 5 and link.use_count == 0
    # The creator is told once.
    from notifications.models import OutboundMessage

    assert OutboundMessage.objects.filter(template="guestlink_locked").count() == 1
    # After the lock the right password is refused too, without being checked.
    response = Client().post(url, {"password": "the-right-one"})
    assert response.status_code == 404
    assert len(checks) == 5
    assert guest_sessions() == 0


def test_a_parallel_flood_over_the_rate_limit_is_let_through_and_logged_exactly_once(
    owner, study, worklist, settings
):
    settings.GUESTLINK_RATE_LIMIT_PER_IP = 5
    link = services.guestlink_create(actor=owner, study=study, worklist=worklist)
    url = link.get_absolute_url()

    statuses = hammer(lambda _: Client().post(url).status_code, 60)

    assert statuses.count(303) == 5 and statuses.count(429) == 55
    assert GuestLinkAccess.objects.filter(outcome="rate_limited").count() == 1
    assert GuestLinkAccess.objects.filter(outcome="opened").count() == 5
