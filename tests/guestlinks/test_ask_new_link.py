"""'Ask for a new link' on the page of a link that no longer opens: the creator hears of it by
email naming the link; the asker learns nothing, whatever the token; it is rate-limited."""

import re

import pytest
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from guestlinks import services
from guestlinks.models import GuestLink
from notifications.services import render_email
from tests.guestlinks.conftest import outbox

pytestmark = pytest.mark.django_db

UNKNOWN = "Q" * 43
CSRF_VALUE = re.compile(r'name="csrfmiddlewaretoken" value="[^"]+"')


def ask_url(token):
    return reverse("guestlinks:ask", args=[token])


def ask(client, token, message="", **extra):
    return client.post(ask_url(token), {"message": message}, **extra)


def page(response, token):
    return CSRF_VALUE.sub("csrf", response.content.decode().replace(token, "<token>"))


@pytest.fixture
def dead_link(make_link):
    link = make_link(email="patient@example.net")
    GuestLink.objects.filter(pk=link.pk).update(expires_at=timezone.now())
    link.refresh_from_db()
    return link


def test_the_unusable_page_offers_it(client, dead_link):
    body = client.get(dead_link.get_absolute_url()).content.decode()
    assert "Ask for a new link" in body
    assert f'action="{ask_url(dead_link.token)}"' in body
    assert 'name="csrfmiddlewaretoken"' in body


def test_the_creator_is_told_naming_the_link(client, dead_link, owner, settings):
    settings.SITE_URL = "https://share.example.org"
    response = ask(client, dead_link.token, "Hello, it is Mrs Smith,\nplease resend.")
    assert response.status_code == 200
    assert "the person who shared it has been told" in response.content.decode()
    (message,) = outbox("guestlink_new_link_asked")
    assert message.recipient == owner.email and message.channel == "email"
    email = render_email(message)
    text, html = email.body, email.alternatives[0][0]
    assert "asks for a new guest link" in email.subject
    assert str(dead_link.public_id) in text and "expired" in text
    assert "Hello, it is Mrs Smith, please resend." in text  # one line: no header games
    assert "share.example.org/studies/" in text
    assert dead_link.token not in text + html  # never the token
    (event,) = AuditEvent.objects.filter(action=AuditEvent.Action.GUESTLINK_NEW_LINK_ASKED)
    assert event.guest_link_id == dead_link.public_id and event.actor is None
    assert event.details == {"state": "expired", "with_message": True}


@pytest.mark.parametrize(
    "change",
    [
        {"locked_at": timezone.now()},
        {"deleted_at": timezone.now()},
        {"disabled_at": timezone.now()},
    ],
    ids=["locked", "deleted", "disabled"],
)
def test_every_unusable_state_may_ask(client, make_link, change):
    link = make_link()
    GuestLink.objects.filter(pk=link.pk).update(**change)
    assert ask(client, link.token).status_code == 200
    assert len(outbox("guestlink_new_link_asked")) == 1


def test_no_oracle_unknown_and_usable_tokens_answer_the_same(client, dead_link, make_link):
    usable = make_link()
    answers = [
        ask(client, UNKNOWN, "please"),
        ask(client, usable.token, "please"),
        ask(client, dead_link.token, "please"),
    ]
    assert {r.status_code for r in answers} == {200}
    assert len({r.content for r in answers}) == 1
    # Only the link that no longer opens told anyone.
    assert len(outbox("guestlink_new_link_asked")) == 1
    # The unusable page itself is the same for an unknown token and a known one.
    unknown_page = client.get(f"/g/{UNKNOWN}/")
    known_page = client.get(dead_link.get_absolute_url())
    assert unknown_page.status_code == known_page.status_code == 404
    assert page(unknown_page, UNKNOWN) == page(known_page, dead_link.token)


def test_the_page_reveals_nothing_about_the_link_or_study(client, dead_link, owner, study):
    for response in (client.get(dead_link.get_absolute_url()), ask(client, dead_link.token)):
        body = response.content.decode()
        for secret in (
            owner.display_name,
            owner.email,
            study.patient_name,
            study.study_description,
            "patient@example.net",
            str(dead_link.public_id),
        ):
            if secret:
                assert secret not in body


def test_a_too_long_message_is_refused_the_same_for_every_token(client, dead_link):
    long = "x" * (services.ASK_MESSAGE_MAX_LENGTH + 1)
    known, unknown = ask(client, dead_link.token, long), ask(client, UNKNOWN, long)
    assert known.status_code == unknown.status_code == 400
    assert page(known, dead_link.token) == page(unknown, UNKNOWN)
    assert "at most 500 characters" in known.content.decode()
    assert not outbox("guestlink_new_link_asked")


def test_rate_limited_per_token(client, dead_link):
    for _ in range(services.ASK_PER_TOKEN.limit):
        assert ask(client, dead_link.token, REMOTE_ADDR="203.0.113.9").status_code == 200
    # From another address too: the token's own limit holds.
    limited = ask(client, dead_link.token, REMOTE_ADDR="198.51.100.7")
    assert limited.status_code == 429 and int(limited["Retry-After"]) > 0
    assert len(outbox("guestlink_new_link_asked")) == services.ASK_PER_TOKEN.limit


def test_rate_limited_per_address_and_the_same_for_unknown_tokens(client, dead_link):
    answers = [
        ask(client, f"{index:0>43}", REMOTE_ADDR="203.0.113.9").status_code
        for index in range(services.ASK_PER_ADDRESS.limit)
    ]
    assert answers == [200] * services.ASK_PER_ADDRESS.limit
    # Over the address's limit a known token is limited like an unknown one.
    assert ask(client, dead_link.token, REMOTE_ADDR="203.0.113.9").status_code == 429
    assert ask(client, UNKNOWN, REMOTE_ADDR="203.0.113.9").status_code == 429
    assert not outbox("guestlink_new_link_asked")
    assert ask(client, dead_link.token, REMOTE_ADDR="198.51.100.7").status_code == 200


def test_only_a_post_with_csrf(dead_link):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    assert strict.get(ask_url(dead_link.token)).status_code == 405
    assert strict.post(ask_url(dead_link.token), {"message": "hi"}).status_code == 403
    assert not outbox("guestlink_new_link_asked")


def test_link_page_headers(client, dead_link):
    response = ask(client, dead_link.token)
    assert response["Referrer-Policy"] == "no-referrer"
    assert "no-store" in response["Cache-Control"]
    assert "default-src 'self'" in response["Content-Security-Policy"]
