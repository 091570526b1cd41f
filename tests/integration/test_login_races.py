"""Concurrency on PostgreSQL: the login throttle holds when wrong passwords arrive together.

Each login runs in its own thread with its own database connection through the whole stack
(test Client → middleware → login view → form → throttle → upsert). The "naive" parameter
swaps in a version that reads the count, checks the password and only then counts it, and the
same test asserts that it lets more passwords be checked than the limit: that is what shows the
test can catch the race the real claim-before-check avoids.
"""

import time

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from accounts import forms, ratelimit, services
from accounts.models import RateLimitBucket
from audit.models import AuditEvent
from tests.factories import PASSWORD, UserFactory
from tests.integration.test_guestlink_races import hammer

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="needs PostgreSQL: SQLite serialises writers, so these races cannot happen there",
    ),
]

LIMIT = 3
ATTEMPTS = 12


def naive_login_attempt_start(*, username, request):
    """Read the count, let the password be checked, count afterwards: the race to avoid."""
    rate = ratelimit.RateLimit("login_account", LIMIT, 10**9)
    key = ratelimit._bucket_key(rate.scope, username, int(timezone.now().timestamp()) // 10**9)
    bucket = RateLimitBucket.objects.filter(key=key).first()
    if bucket is not None and bucket.hits >= LIMIT:
        return services.LoginAttempt(refused_for=60)
    time.sleep(0.02)  # any work between the read and the write widens the window
    ratelimit.hit(rate, username)
    return services.LoginAttempt()


@pytest.mark.parametrize("implementation", ["claim first", "naive"])
def test_simultaneous_wrong_passwords_are_checked_no_more_than_the_limit(
    settings, monkeypatch, implementation
):
    settings.LOGIN_FAILURE_WINDOW_SECONDS = 10**9
    settings.LOGIN_MAX_FAILURES_PER_ACCOUNT = LIMIT
    settings.LOGIN_MAX_FAILURES_PER_ADDRESS = 1000
    if implementation == "naive":
        monkeypatch.setattr(forms, "login_attempt_start", naive_login_attempt_start)
    UserFactory(username="clinician")

    def attempt(index):
        response = Client().post(
            "/accounts/login/", {"username": "clinician", "password": f"wrong-{index}"}
        )
        return response.status_code

    statuses = hammer(attempt, ATTEMPTS, workers=ATTEMPTS)
    checked = AuditEvent.objects.filter(action="login_failed", outcome="failure").count()
    if implementation == "naive":
        assert checked > LIMIT, "the naive check-then-count version should let more through"
        return
    assert checked == LIMIT
    assert sorted(statuses) == [200] * LIMIT + [429] * (ATTEMPTS - LIMIT)
    assert (
        Client()
        .post("/accounts/login/", {"username": "clinician", "password": PASSWORD})
        .status_code
        == 429
    )
