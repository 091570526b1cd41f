"""Concurrency on PostgreSQL: guest link counters hold under parallel requests.

Each request runs in its own thread with its own database connection, through the whole Django
stack (test Client → middleware → view → service → conditional UPDATE). The "naive" parameter
swaps in a read-then-write version of the claim, and the same test then asserts that it
over-counts: that is what shows the test can catch the race it is about.
"""

import threading
import time

import pytest
from django.db import connection, connections
from django.test import Client

from accounts.models import UserSession as Session
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


def naive_count_failure(link_id):
    link = GuestLink.objects.get(pk=link_id)
    if not link.is_usable or link.password_failures >= link.max_password_attempts:
        return False
    time.sleep(0.02)
    GuestLink.objects.filter(pk=link_id).update(password_failures=link.password_failures + 1)
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
def test_100_parallel_wrong_passwords_count_5_and_lock(
    owner, study, worklist, monkeypatch, implementation
):
    if implementation == "naive":
        monkeypatch.setattr(services, "_count_failure", naive_count_failure)
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

    counted = GuestLinkAccess.objects.filter(link=link, outcome="wrong_password").count()
    print(f"{implementation}: {counted} of 100 parallel wrong passwords counted as wrong")
    if implementation == "naive":
        assert counted > 5, "the naive read-then-write version should count too many"
        return
    assert counted == 5
    # Wrong with attempts left (403), or refused once the attempts are gone (404).
    assert statuses.count(403) == 4 and statuses.count(404) == 96
    link.refresh_from_db()
    assert link.locked_at is not None and link.state == "locked"
    assert link.password_failures == 5 and link.use_count == 0
    # The creator is told once.
    from notifications.models import OutboundMessage

    assert OutboundMessage.objects.filter(template="guestlink_locked").count() == 1
    # After the lock the right password is refused too, without being checked.
    checked = len(checks)
    response = Client().post(url, {"password": "the-right-one"})
    assert response.status_code == 404
    assert len(checks) == checked
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


def parallel_passwords(url, passwords):
    """POST each password from its own thread; (password, status) pairs in no given order."""
    return hammer(
        lambda i: (passwords[i], Client().post(url, {"password": passwords[i]}).status_code),
        len(passwords),
    )


@pytest.mark.parametrize(
    ("max_uses", "opened"), [(None, 15), (15, 15), (5, 5)], ids=["unlimited", "enough", "fewer"]
)
def test_parallel_right_passwords_all_open_while_uses_remain(
    owner, study, worklist, max_uses, opened
):
    """Attempts are a cap on wrong passwords only: 15 people typing the right password at
    the same moment on a link allowing 5 attempts all get in (as many as there are uses)."""
    link = services.guestlink_create(
        actor=owner,
        study=study,
        worklist=worklist,
        password="the-right-one",
        max_password_attempts=5,
        max_uses=max_uses,
    )

    results = parallel_passwords(link.get_absolute_url(), ["the-right-one"] * 15)

    statuses = [status for _, status in results]
    print(f"max uses {max_uses}: {statuses.count(303)} of 15 right passwords opened")
    assert statuses.count(303) == opened and statuses.count(404) == 15 - opened
    assert guest_sessions() == opened
    link.refresh_from_db()
    assert link.use_count == opened and link.password_failures == 0 and link.locked_at is None
    assert GuestLinkAccess.objects.filter(outcome="wrong_password").count() == 0


def test_right_passwords_amid_wrong_ones_below_the_cap_all_open(owner, study, worklist):
    link = services.guestlink_create(
        actor=owner,
        study=study,
        worklist=worklist,
        password="the-right-one",
        max_password_attempts=5,
    )
    passwords = ["the-right-one"] * 15 + [f"wrong-{i}" for i in range(4)]

    results = parallel_passwords(link.get_absolute_url(), passwords)

    assert (
        sorted(status for password, status in results if password == "the-right-one") == [303] * 15
    )
    assert (
        sorted(status for password, status in results if password != "the-right-one") == [403] * 4
    )
    link.refresh_from_db()
    assert link.use_count == 15 and link.password_failures == 4 and link.locked_at is None
    assert guest_sessions() == 15


def test_a_flood_of_wrong_passwords_with_right_ones_counts_exactly_the_cap(owner, study, worklist):
    """40 wrong and 10 right at once: exactly 5 wrong passwords count, the 5th locks the link;
    a right password opens unless it comes after the lock, and is never called wrong."""
    from notifications.models import OutboundMessage

    link = services.guestlink_create(
        actor=owner,
        study=study,
        worklist=worklist,
        password="the-right-one",
        max_password_attempts=5,
        max_uses=50,
    )
    passwords = [f"wrong-{i}" for i in range(40)] + ["the-right-one"] * 10

    results = parallel_passwords(link.get_absolute_url(), passwords)

    right = [status for password, status in results if password == "the-right-one"]
    wrong = [status for password, status in results if password != "the-right-one"]
    assert set(right) <= {303, 404} and set(wrong) <= {403, 404}
    assert wrong.count(403) == 4  # the 5th wrong one locks: it gets the unavailable page
    link.refresh_from_db()
    assert link.locked_at is not None and link.password_failures == 5
    assert GuestLinkAccess.objects.filter(outcome="wrong_password").count() == 5
    assert OutboundMessage.objects.filter(template="guestlink_locked").count() == 1
    opened = right.count(303)
    assert link.use_count == opened == guest_sessions()
    assert GuestLinkAccess.objects.filter(outcome="opened").count() == opened
    # Every right password refused was refused because the link was locked by then.
    first_lock = GuestLinkAccess.objects.filter(outcome="wrong_password").order_by("-id").first()
    for refused in GuestLinkAccess.objects.filter(outcome="refused"):
        assert refused.id > first_lock.id
