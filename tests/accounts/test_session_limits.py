"""Clinician sessions: idle timeout, absolute lifetime, renewed at most once a minute; a
password change ends the user's other sessions; "log out everywhere" ends them all."""

import datetime

import pytest
from django.contrib.auth.tokens import default_token_generator
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from accounts.models import UserSession
from accounts.services import api_token_create

HOME = reverse("worklists:home")
LOGIN = reverse("accounts:login")
ACCOUNT = reverse("accounts:account")
EVERYWHERE = reverse("accounts:logout_everywhere")


class Clock:
    """The one clock the session store, its expiry and the limits read (timezone.now)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.now = timezone.now()
        monkeypatch.setattr(timezone, "now", lambda: self.now)

    def advance(self, **delta: float) -> None:
        self.now += datetime.timedelta(**delta)


@pytest.fixture
def clock(monkeypatch):
    return Clock(monkeypatch)


def signed_in(client: Client) -> bool:
    response = client.get(HOME)
    assert response.status_code in (200, 302)
    return response.status_code == 200 or not response["Location"].startswith(LOGIN)


def test_idle_timeout_ends_a_session_not_used_for_30_minutes(client, read_only, clock):
    client.force_login(read_only)
    for _ in range(4):  # used every 29 minutes: kept alive for two hours
        clock.advance(minutes=29)
        assert signed_in(client)
    clock.advance(minutes=30, seconds=1)
    assert not signed_in(client)


def test_idle_timeout_is_a_setting(client, read_only, clock, settings):
    settings.CLINICIAN_SESSION_IDLE_SECONDS = 300
    client.force_login(read_only)
    clock.advance(minutes=4)
    assert signed_in(client)
    clock.advance(minutes=5, seconds=1)
    assert not signed_in(client)


def test_absolute_lifetime_ends_a_busy_session(client, read_only, clock, settings):
    settings.CLINICIAN_SESSION_MAX_SECONDS = 3600
    client.force_login(read_only)
    for _ in range(5):  # every 10 minutes, up to 50 minutes after the login
        clock.advance(minutes=10)
        assert signed_in(client)
    clock.advance(minutes=9, seconds=59)
    assert signed_in(client)
    clock.advance(seconds=2)  # an hour after the login, however busy
    assert not signed_in(client)


def test_the_session_is_written_at_most_once_a_minute(client, read_only, clock):
    client.force_login(read_only)
    key = client.session.session_key
    first = UserSession.objects.get(session_key=key).expire_date
    clock.advance(seconds=30)
    assert signed_in(client)
    assert UserSession.objects.get(session_key=key).expire_date == first  # not written
    clock.advance(seconds=31)
    assert signed_in(client)
    renewed = UserSession.objects.get(session_key=key).expire_date
    assert renewed - first == datetime.timedelta(seconds=61)


def test_a_session_row_knows_its_user_and_a_guest_row_has_none(client, read_only):
    client.force_login(read_only)
    assert UserSession.objects.get(session_key=client.session.session_key).user == read_only
    anonymous = Client()
    anonymous.get(LOGIN)
    session = anonymous.session
    session["something"] = 1
    session.save()
    assert UserSession.objects.get(session_key=session.session_key).user is None


def test_password_change_ends_the_other_sessions_and_keeps_this_one(read_only):
    read_only.set_password("old password 1")
    read_only.save()
    here, elsewhere = Client(), Client()
    here.force_login(read_only)
    elsewhere.force_login(read_only)
    response = here.post(
        ACCOUNT,
        {
            "old_password": "old password 1",
            "new_password1": "a new longer passphrase",
            "new_password2": "a new longer passphrase",
        },
    )
    assert response.status_code == 302 and response["Location"] == ACCOUNT
    assert signed_in(here)
    assert not signed_in(elsewhere)
    assert UserSession.objects.filter(user=read_only).count() == 1


def test_a_wrong_old_password_changes_nothing(read_only):
    read_only.set_password("old password 1")
    read_only.save()
    here, elsewhere = Client(), Client()
    here.force_login(read_only)
    elsewhere.force_login(read_only)
    response = here.post(
        ACCOUNT,
        {
            "old_password": "wrong",
            "new_password1": "a new pass 12",
            "new_password2": "a new pass 12",
        },
    )
    assert response.status_code == 400 and b"incorrect" in response.content
    assert signed_in(here) and signed_in(elsewhere)


def test_a_password_reset_ends_every_session(client, read_only):
    elsewhere = Client()
    elsewhere.force_login(read_only)
    uid = urlsafe_base64_encode(force_bytes(read_only.pk))
    token = default_token_generator.make_token(read_only)
    form_url = client.get(reverse("accounts:password_reset_confirm", args=[uid, token]))["Location"]
    response = client.post(
        form_url, {"new_password1": "a reset passphrase", "new_password2": "a reset passphrase"}
    )
    assert response.status_code == 302
    assert not signed_in(elsewhere)
    assert not UserSession.objects.filter(user=read_only).exists()


def test_log_out_everywhere_ends_every_session_but_not_api_tokens(read_only, outsider):
    here, elsewhere, bystander = Client(), Client(), Client()
    here.force_login(read_only)
    elsewhere.force_login(read_only)
    bystander.force_login(outsider)
    _, token = api_token_create(user=read_only, name="viewer")
    response = here.post(EVERYWHERE)
    assert response.status_code == 302 and response["Location"] == LOGIN
    assert not signed_in(here) and not signed_in(elsewhere)
    assert signed_in(bystander)  # another user's session is untouched
    assert not UserSession.objects.filter(user=read_only).exists()
    # API tokens are not sessions: other software keeps working until the token is revoked.
    api = Client().get("/dicomweb/studies", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert api.status_code == 200


def test_log_out_everywhere_is_a_post_for_a_signed_in_user(client, read_only):
    assert client.post(EVERYWHERE)["Location"].startswith(LOGIN)  # anonymous
    client.force_login(read_only)
    assert client.get(EVERYWHERE).status_code == 405
    assert signed_in(client)


def test_the_account_page_offers_both(client, read_only):
    client.force_login(read_only)
    response = client.get(ACCOUNT)
    assert response.status_code == 200
    assert b"Log out everywhere" in response.content
    assert b'name="old_password"' in response.content
    assert response["Cache-Control"].count("no-store") == 1


def test_a_session_of_a_user_deleted_meanwhile_still_saves_and_deleting_ends_them(
    client, read_only
):
    from accounts.sessions import SessionStore

    store = SessionStore()
    store["_auth_user_id"] = "987654321"  # no such user (deleted by another process)
    store.create()  # an INSERT that fails would be retried as a key collision, for ever
    assert UserSession.objects.get(session_key=store.session_key).user_id == 987654321
    client.force_login(read_only)
    read_only.delete()
    assert not UserSession.objects.filter(session_key=client.session.session_key).exists()
