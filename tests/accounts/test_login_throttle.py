"""Failed logins are throttled per account and per address, on the site's login page and on
Django admin's: over a limit the password is not checked at all, the form says how long to
wait, the answer is a 429, and the audit trail says so once."""

import math
import re

import pytest
from django.core import mail
from django.db import OperationalError, connection
from django.urls import reverse

from accounts.models import RateLimitBucket
from accounts.services import LoginAttempt
from audit.models import AuditEvent
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"
ADMIN_LOGIN = "/admin/login/"


# Windows are fixed (they start at multiples of their length since 1970): a window this long
# does not end while a test runs, where 15 minutes could, now and then.
WINDOW = 10**9


@pytest.fixture(autouse=True)
def _limits(settings):
    settings.LOGIN_FAILURE_WINDOW_SECONDS = WINDOW
    settings.LOGIN_MAX_FAILURES_PER_ACCOUNT = 3  # 10 by default: fewer slow hashes here
    settings.LOGIN_MAX_FAILURES_PER_ADDRESS = 100


@pytest.fixture
def clinician(db):
    return UserFactory(username="clinician", email="clinician@example.org")


@pytest.fixture
def administrator(db):
    return UserFactory(username="administrator", is_staff=True, is_superuser=True)


def log_in(client, username, password, url=LOGIN, **extra):
    return client.post(url, {"username": username, "password": password}, **extra)


def logged_in(client) -> bool:
    return "_auth_user_id" in client.session


def passwords_checked() -> int:
    """Wrong passwords that were actually checked (Django's user_login_failed, audited)."""
    return AuditEvent.objects.filter(action="login_failed", outcome="failure").count()


def assert_refused(response):
    """A 429 that says, in whole minutes, as long as its Retry-After."""
    assert response.status_code == 429
    wait = int(response["Retry-After"])
    assert 0 < wait <= WINDOW
    minutes = math.ceil(wait / 60)
    assert f"Too many failed attempts; try again in {minutes} minutes." in response.content.decode()


def test_wrong_passwords_in_a_row_stop_being_checked_and_then_the_right_one_waits(
    client, clinician
):
    for _ in range(3):
        response = log_in(client, "clinician", "guess-again")
        assert response.status_code == 200 and "didn't match" in response.content.decode()
    assert passwords_checked() == 3
    for _ in range(20):
        assert_refused(log_in(client, "clinician", "guess-again"))
    response = log_in(client, "clinician", PASSWORD)  # the right one, too late
    assert_refused(response)
    assert not logged_in(client)
    assert passwords_checked() == 3  # nothing after the limit reached a password hash
    denied = AuditEvent.objects.get(action="login_failed", outcome="denied")
    assert denied.details == {
        "username": "clinician",
        "reason": "too_many_failures",
        "limit": "login_account",
    }
    assert denied.ip_address == "127.0.0.1"

    RateLimitBucket.objects.all().delete()  # as when the next window starts
    assert log_in(client, "clinician", PASSWORD).status_code == 302 and logged_in(client)


def test_the_account_is_counted_from_every_address_and_however_it_is_typed(client, clinician):
    for number in range(3):
        log_in(
            client,
            ["clinician", "Clinician", " CLINICIAN "][number % 3],
            "x",
            REMOTE_ADDR=f"10.0.0.{number}",
        )
    response = log_in(client, "clinician", PASSWORD, REMOTE_ADDR="10.0.1.1")
    assert response.status_code == 429 and not logged_in(client)


def test_an_address_is_limited_across_accounts_and_others_are_not_held_up(
    client, clinician, settings
):
    settings.LOGIN_MAX_FAILURES_PER_ADDRESS = 3
    for number in range(3):
        assert log_in(client, f"someone{number}", "x", REMOTE_ADDR="203.0.113.7").status_code == 200
    response = log_in(client, "clinician", PASSWORD, REMOTE_ADDR="203.0.113.7")
    assert response.status_code == 429 and not logged_in(client)
    denied = AuditEvent.objects.get(outcome="denied")
    assert denied.details["limit"] == "login_address"
    # The account itself was not counted by the refused attempt, and opens from elsewhere.
    assert log_in(client, "clinician", PASSWORD, REMOTE_ADDR="198.51.100.1").status_code == 302


def test_right_passwords_never_count(client, clinician, settings):
    settings.LOGIN_MAX_FAILURES_PER_ACCOUNT = 2
    settings.LOGIN_MAX_FAILURES_PER_ADDRESS = 2
    for _ in range(5):
        assert log_in(client, "clinician", PASSWORD).status_code == 302
        client.logout()
    assert log_in(client, "clinician", "x").status_code == 200
    assert log_in(client, "clinician", PASSWORD).status_code == 302  # one failure: still fine


def test_a_limit_of_zero_is_off(client, clinician, settings):
    settings.LOGIN_MAX_FAILURES_PER_ACCOUNT = 0
    settings.LOGIN_MAX_FAILURES_PER_ADDRESS = 0
    for _ in range(5):
        log_in(client, "clinician", "x")
    assert log_in(client, "clinician", PASSWORD).status_code == 302


def test_the_admin_login_is_throttled_too_and_shares_the_count(client, administrator):
    for _ in range(2):
        assert log_in(client, "administrator", "x", url=ADMIN_LOGIN).status_code == 200
    assert log_in(client, "administrator", "x").status_code == 200
    response = log_in(client, "administrator", PASSWORD, url=ADMIN_LOGIN)
    assert response.status_code == 429 and not logged_in(client)
    body = response.content.decode()
    assert "Too many failed attempts; try again in" in body
    assert 'class="errornote"' in body  # the admin's own page, with its own styles
    assert passwords_checked() == 3

    RateLimitBucket.objects.all().delete()
    response = log_in(client, "administrator", PASSWORD, url=ADMIN_LOGIN)
    assert response.status_code == 302 and logged_in(client)


def test_a_clinician_with_the_right_password_at_the_admin_login_is_not_counted(
    client, clinician, settings
):
    settings.LOGIN_MAX_FAILURES_PER_ACCOUNT = 1
    for _ in range(3):  # not staff: refused by the admin, but the password was right
        response = log_in(client, "clinician", PASSWORD, url=ADMIN_LOGIN)
        assert response.status_code == 200 and "staff account" in response.content.decode()
    assert log_in(client, "clinician", PASSWORD).status_code == 302


def test_refuses_every_login_when_attempts_cannot_be_counted(client, clinician):
    """Fail closed: if the count cannot be written, no password is checked."""

    def counter_down(execute, sql, params, many, context):
        if RateLimitBucket._meta.db_table in sql:
            raise OperationalError("the counter is unavailable")
        return execute(sql, params, many, context)

    with connection.execute_wrapper(counter_down):
        response = log_in(client, "clinician", PASSWORD)
    assert response.status_code == 503 and not logged_in(client)
    assert "Logging in is unavailable for a moment" in response.content.decode()
    assert passwords_checked() == 0
    assert log_in(client, "clinician", PASSWORD).status_code == 302  # back when it is


def test_a_password_reset_does_not_get_round_the_throttle(client, clinician):
    for _ in range(3):
        log_in(client, "clinician", "x")
    assert log_in(client, "clinician", PASSWORD).status_code == 429

    client.post(reverse("accounts:password_reset"), {"email": clinician.email})
    link = re.search(r"https?://[^/]+(/accounts/reset/\S+/)", mail.outbox[-1].body).group(1)
    set_url = client.get(link, follow=True).redirect_chain[-1][0]
    new = "a-New-pass-2024!"
    response = client.post(set_url, {"new_password1": new, "new_password2": new})
    assert response.status_code == 302 and not logged_in(client)  # a reset logs no one in
    clinician.refresh_from_db()
    assert clinician.check_password(new)
    response = log_in(client, "clinician", new)
    assert response.status_code == 429 and not logged_in(client)


@pytest.mark.parametrize(
    "seconds, text",
    [(900, "15 minutes"), (61, "2 minutes"), (60, "1 minute."), (1, "1 minute.")],
)
def test_the_message_rounds_the_wait_up_to_whole_minutes(seconds, text):
    assert text in LoginAttempt(refused_for=seconds).message
