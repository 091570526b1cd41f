"""Concurrency on PostgreSQL: one-time codes hold under parallel requests.

As in test_guestlink_races.py, each request runs in its own thread with its own connection
through the whole stack; the "naive" variants swap in a read-then-write version of the claim
or the count, and the same test then shows the race it is about.
"""

import re
import threading
import time

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from guestlinks import onetimecode, services
from guestlinks.models import GuestLink, GuestLinkAccess, GuestLinkCode
from notifications.models import OutboundMessage
from notifications.services import render_email
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

PASSWORD = "the-right-one"


@pytest.fixture(autouse=True)
def _no_rate_limits(settings):
    settings.GUESTLINK_RATE_LIMIT_PER_IP = 0
    settings.GUESTLINK_RATE_LIMIT_PER_LINK = 0
    settings.GUESTLINK_RATE_LIMIT_GUESSES_PER_IP = 0


def code_session(link):
    """A browser that gave the right password: its session cookie and the code it was sent."""
    client = Client()
    response = client.post(link.get_absolute_url(), {"password": PASSWORD})
    assert response.status_code == 303
    message = OutboundMessage.objects.filter(template="guestlink_code").latest("id")
    code = re.search(r"\b(\d{6})\b", render_email(message).body).group(1)
    return client.cookies["sessionid"].value, code


def post_code(link, cookie, code):
    client = Client()
    client.cookies["sessionid"] = cookie
    response = client.post(link.get_absolute_url(), {"code": code})
    return response.status_code, response.get("Location", "")


def naive_code_claim(challenge):
    fresh = GuestLinkCode.objects.get(pk=challenge.pk)
    if fresh.used_at is not None or fresh.expires_at <= timezone.now():
        return False
    time.sleep(0.05)
    GuestLinkCode.objects.filter(pk=challenge.pk).update(used_at=timezone.now())
    return True


def naive_count_wrong_code(link_id):
    link = GuestLink.objects.get(pk=link_id)
    if not link.is_usable or link.code_failures >= onetimecode.CODE_MAX_ATTEMPTS:
        return False
    time.sleep(0.02)
    GuestLink.objects.filter(pk=link_id).update(code_failures=link.code_failures + 1)
    return True


@pytest.mark.parametrize("implementation", ["atomic", "naive"])
def test_one_code_sent_twenty_times_at_once_opens_once(
    owner, study, worklist, monkeypatch, implementation
):
    if implementation == "naive":
        monkeypatch.setattr(onetimecode, "code_claim", naive_code_claim)
    link = services.guestlink_create(
        actor=owner,
        study=study,
        worklist=worklist,
        password=PASSWORD,
        email="guest@example.org",
        one_time_code=True,
    )
    cookie, code = code_session(link)
    viewer = f"/g/view/{study.public_id}/"

    results = hammer(lambda _: post_code(link, cookie, code), 20)

    opened = sum(1 for status, location in results if status == 303 and location == viewer)
    print(f"{implementation}: {opened} of 20 parallel submissions of one code opened")
    if implementation == "naive":
        assert opened > 1, "the naive read-then-write claim should let the code in twice"
        return
    assert opened == 1
    link.refresh_from_db()
    assert link.use_count == 1 and link.code_failures == 0
    assert GuestLinkAccess.objects.filter(link=link, outcome="opened").count() == 1


@pytest.mark.parametrize("implementation", ["atomic", "naive"])
def test_100_parallel_wrong_codes_count_the_cap_and_lock(
    owner, study, worklist, monkeypatch, implementation
):
    if implementation == "naive":
        monkeypatch.setattr(services, "_count_wrong_code", naive_count_wrong_code)
    link = services.guestlink_create(
        actor=owner,
        study=study,
        worklist=worklist,
        password=PASSWORD,
        mobile="+447911123456",
        one_time_code=True,
    )
    client = Client()
    assert client.post(link.get_absolute_url(), {"password": PASSWORD}).status_code == 303
    cookie = client.cookies["sessionid"].value
    message = OutboundMessage.objects.get(template="guestlink_code")
    assert message.channel == "sms"
    code = onetimecode.unseal(message.context["sealed"], message.context["code_id"])
    wrong = [f"{(int(code) + 1 + i) % 1_000_000:06d}" for i in range(100)]

    results = hammer(lambda i: post_code(link, cookie, wrong[i]), 100)

    counted = GuestLinkAccess.objects.filter(link=link, outcome="wrong_code").count()
    print(f"{implementation}: {counted} of 100 parallel wrong codes counted")
    if implementation == "naive":
        assert counted > onetimecode.CODE_MAX_ATTEMPTS, "the naive count should over-count"
        return
    statuses = [status for status, _ in results]
    assert counted == onetimecode.CODE_MAX_ATTEMPTS
    assert statuses.count(403) == onetimecode.CODE_MAX_ATTEMPTS - 1
    assert statuses.count(404) == 100 - statuses.count(403)
    link.refresh_from_db()
    assert link.state == "locked" and link.code_failures == onetimecode.CODE_MAX_ATTEMPTS
    assert OutboundMessage.objects.filter(template="guestlink_locked").count() == 1
    assert post_code(link, cookie, code)[0] == 404  # the right code too, once locked
    assert link.use_count == 0


def test_parallel_resends_send_within_the_allowance(owner, study, worklist, settings):
    settings.GUESTLINK_CODE_RESEND_SECONDS = 0
    settings.GUESTLINK_CODE_SENDS_PER_WINDOW = 4
    link = services.guestlink_create(
        actor=owner,
        study=study,
        worklist=worklist,
        password=PASSWORD,
        email="guest@example.org",
        one_time_code=True,
    )
    cookie, _ = code_session(link)
    lock = threading.Lock()

    def resend(_):
        client = Client()
        client.cookies["sessionid"] = cookie
        status = client.post(link.get_absolute_url(), {"resend": "1"}).status_code
        with lock:
            return status

    statuses = hammer(resend, 30)

    assert OutboundMessage.objects.filter(template="guestlink_code").count() == 4
    assert statuses.count(200) == 3 and statuses.count(429) == 27
