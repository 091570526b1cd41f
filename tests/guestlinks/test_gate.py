import datetime
import re

import pytest
from django.conf import settings as django_settings
from django.urls import reverse
from django.utils import timezone

from accounts.models import UserSession as Session
from audit.models import AuditEvent
from guestlinks import services
from guestlinks.access import SESSION_KEY
from guestlinks.models import GuestLink, GuestLinkAccess
from notifications.models import OutboundMessage
from notifications.services import render_email
from tests.guestlinks.conftest import open_link, outbox, viewer_url

pytestmark = pytest.mark.django_db

UNAVAILABLE = "This link is no longer available"
CSRF_VALUE = re.compile(r'name="csrfmiddlewaretoken" value="[^"]+"')


def same_page(response, token):
    """A page with what is per-request taken out: the URL's token and the CSRF value."""
    return CSRF_VALUE.sub("csrf", response.content.decode().replace(token, "<token>"))


@pytest.fixture
def checks(monkeypatch):
    """Counts every password check (each is one Argon2 hash)."""
    calls = []
    real = services._password_matches

    def counting(link, password):
        calls.append(password)
        return real(link, password)

    monkeypatch.setattr(services, "_password_matches", counting)
    return calls


def snapshot():
    return (
        list(GuestLink.objects.values_list("use_count", "password_failures", "locked_at")),
        GuestLinkAccess.objects.count(),
        AuditEvent.objects.count(),
        OutboundMessage.objects.count(),
        Session.objects.count(),
    )


# --- GET and HEAD ------------------------------------------------------------------------


def test_get_shows_who_shared_it_and_until_when(client, make_link, owner):
    owner.title, owner.first_name, owner.last_name = "Dr", "Ada", "Lovelace"
    owner.save()
    link = make_link(password="open-sesame", expires_at=timezone.now() + datetime.timedelta(days=2))
    response = client.get(link.get_absolute_url())
    body = response.content.decode()
    assert response.status_code == 200
    assert "Dr Ada Lovelace" in body and "St Elsewhere" in body
    local = timezone.localtime(link.expires_at, timezone.get_default_timezone())
    assert local.strftime("%-d %B %Y, %H:%M") in body
    assert 'name="password"' in body and "Open study" in body
    assert link.study.patient_name not in body  # nothing about the patient before the gate


def test_get_without_password_shows_an_open_button(client, make_link):
    body = client.get(make_link().get_absolute_url()).content.decode()
    assert 'name="password"' not in body and "Open study" in body


def test_birth_date_link_tells_the_format_but_never_the_date(client, make_link):
    body = client.get(make_link(password_is_dob=True).get_absolute_url()).content.decode()
    assert "YYYYMMDD" in body and "19700517" not in body


def test_get_and_head_consume_and_send_nothing(
    client, make_link, django_capture_on_commit_callbacks
):
    link = make_link(max_uses=1, password="open-sesame", notify_on_view=True)
    before = snapshot()
    with django_capture_on_commit_callbacks() as callbacks:
        for _ in range(3):
            assert client.get(link.get_absolute_url()).status_code == 200
            head = client.head(link.get_absolute_url())
            assert head.status_code == 200 and head.content == b""
    assert snapshot() == before
    assert callbacks == []
    assert SESSION_KEY not in client.session


def test_guest_pages_send_privacy_headers(client, make_link):
    link = make_link()
    responses = [
        client.get(link.get_absolute_url()),
        client.get("/g/" + "x" * 43 + "/"),
    ]
    opened = open_link(client, link)
    responses += [opened, client.get(opened["Location"])]
    for response in responses:
        assert response["Referrer-Policy"] == "no-referrer"
        assert "no-store" in response["Cache-Control"]
        assert "default-src 'self'" in response["Content-Security-Policy"]
    body = responses[-1].content.decode()
    assert "http://" not in body.replace("http://testserver", "") and "https://" not in body


def test_other_methods_are_not_allowed(client, make_link):
    link = make_link()
    assert client.put(link.get_absolute_url()).status_code == 405
    assert client.delete(link.get_absolute_url()).status_code == 405


# --- every state looks the same ----------------------------------------------------------


@pytest.mark.parametrize(
    "change",
    [
        {"expires_at": timezone.now() - datetime.timedelta(seconds=1)},
        {"max_uses": 1, "use_count": 1},
        {"locked_at": timezone.now()},
        {"deleted_at": timezone.now()},
        {"disabled_at": timezone.now()},
    ],
    ids=["expired", "used_up", "locked", "deleted", "disabled"],
)
def test_unusable_links_look_like_unknown_ones(client, make_link, change):
    unknown_token = "A" * 43
    unknown = client.get("/g/" + unknown_token + "/")
    link = make_link(password="open-sesame")
    GuestLink.objects.filter(pk=link.pk).update(**change)
    for response in (client.get(link.get_absolute_url()), open_link(client, link, "open-sesame")):
        assert response.status_code == unknown.status_code == 404
        # The same page but for what differs by request: the token in the URL the visitor
        # already has ("Ask for a new link" posts beside it) and the form's CSRF token.
        assert same_page(response, link.token) == same_page(unknown, unknown_token)
        assert UNAVAILABLE in response.content.decode()
    assert SESSION_KEY not in client.session
    assert GuestLink.objects.get(pk=link.pk).password_failures == 0  # nothing counted
    assert GuestLinkAccess.objects.get().outcome == "refused"


def test_a_token_one_character_off_is_unknown(client, make_link):
    link = make_link()
    token = link.token
    wrong = token[:-1] + ("A" if token[-1] != "A" else "B")
    assert client.get(f"/g/{wrong}/").status_code == 404
    assert client.post(f"/g/{wrong}/").status_code == 404
    assert GuestLink.objects.get(pk=link.pk).use_count == 0
    access = GuestLinkAccess.objects.get()
    assert access.link is None and access.outcome == "refused"


# --- opening -----------------------------------------------------------------------------


def test_open_without_password(client, make_link, study):
    link = make_link(max_uses=2)
    response = open_link(client, link, HTTP_USER_AGENT="Mozilla/5.0 (iPhone) Safari/604.1")
    assert response.status_code == 303
    assert response["Location"] == viewer_url(study)
    assert link.token not in response["Location"]
    link.refresh_from_db()
    assert link.use_count == 1
    assert client.session[SESSION_KEY]["link"] == link.pk
    access = GuestLinkAccess.objects.get()
    assert access.outcome == "opened" and access.ip_address == "127.0.0.1"
    assert access.user_agent.startswith("Mozilla/5.0 (iPhone)")
    event = AuditEvent.objects.get(action=AuditEvent.Action.GUESTLINK_OPENED)
    assert event.guest_link_id == link.public_id and event.actor is None
    assert event.outcome == "success" and event.ip_address == "127.0.0.1"


def test_max_uses(client, make_link):
    link = make_link(max_uses=2)
    assert open_link(client, link).status_code == 303
    assert open_link(client, link).status_code == 303
    assert open_link(client, link).status_code == 404
    link.refresh_from_db()
    assert link.use_count == 2 and link.state == "used_up"


def test_unlimited_uses(client, make_link):
    link = make_link()
    for _ in range(7):
        assert open_link(client, link).status_code == 303
    assert GuestLink.objects.get(pk=link.pk).use_count == 7


def test_right_password_opens_with_a_new_session_key(client, make_link, checks):
    link = make_link(password="open-sesame")
    assert open_link(client, link, "open-sesame").status_code == 303
    first_key = client.session.session_key
    assert first_key and client.session[SESSION_KEY]["link"] == link.pk
    response = open_link(client, link, "open-sesame")  # opening again: a fresh session
    assert response.status_code == 303
    assert client.session.session_key != first_key
    assert not Session.objects.filter(session_key=first_key).exists()
    link.refresh_from_db()
    assert link.password_failures == 0  # right passwords are never counted
    assert link.use_count == 2
    assert checks == ["open-sesame", "open-sesame"]


def test_wrong_password_uses_one_attempt(client, make_link, checks):
    link = make_link(password="open-sesame", max_password_attempts=3)
    response = open_link(client, link, "guess")
    assert response.status_code == 403
    body = response.content.decode()
    assert "That password is not right. 2 attempts left." in body
    assert 'name="password"' in body
    link.refresh_from_db()
    assert link.password_failures == 1 and link.use_count == 0 and link.locked_at is None
    assert checks == ["guess"]
    assert SESSION_KEY not in client.session
    assert GuestLinkAccess.objects.get().outcome == "wrong_password"
    event = AuditEvent.objects.get(action=AuditEvent.Action.GUESTLINK_WRONG_PASSWORD)
    assert event.outcome == "failure" and event.details == {
        "result": "wrong_password",
        "locked": False,
    }


def test_reaching_max_attempts_locks_and_tells_the_creator_once(client, make_link, owner, checks):
    link = make_link(password="open-sesame", max_password_attempts=3, max_uses=10)
    assert open_link(client, link, "one").status_code == 403
    assert open_link(client, link, "open-sesame").status_code == 303  # a right one in between
    assert open_link(client, link, "two").status_code == 403
    last = open_link(client, link, "three")
    assert last.status_code == 404 and UNAVAILABLE in last.content.decode()
    link.refresh_from_db()
    assert link.locked_at is not None and link.state == "locked" and link.uses_left == 9
    # Now even the right password is refused, without checking it.
    assert open_link(client, link, "open-sesame").status_code == 404
    assert open_link(client, link, "four").status_code == 404
    assert checks == ["one", "open-sesame", "two", "three"]
    [notice] = outbox("guestlink_locked")
    assert notice.recipient == owner.email
    email = render_email(notice)
    assert "locked" in email.subject.lower()
    assert link.token not in email.body
    outcomes = list(GuestLinkAccess.objects.order_by("id").values_list("outcome", flat=True))
    assert outcomes == [
        "wrong_password",
        "opened",
        "wrong_password",
        "wrong_password",
        "refused",
        "refused",
    ]


def test_a_wrong_password_while_a_right_one_is_checked_does_not_lock_early(
    client, make_link, monkeypatch, rf
):
    """Max 3: one wrong, then a right one and a wrong one at the same moment, then one more
    wrong. Only the third wrong password locks the link; the right one opens it."""
    from guestlinks.selectors import guestlink_find

    link = make_link(password="open-sesame", max_password_attempts=3, max_uses=5)
    assert open_link(client, link, "wrong-1").status_code == 403
    real_check = services._password_matches
    meanwhile = []

    def right_one_is_being_hashed(checked_link, password):
        if password == "open-sesame" and not meanwhile:
            # A wrong password is counted while the right one is being checked.
            token = link.token
            result = services.guestlink_open(
                link=guestlink_find(token), token=token, password="wrong-2", request=rf.post("/")
            )
            meanwhile.append(result)
        return real_check(checked_link, password)

    monkeypatch.setattr(services, "_password_matches", right_one_is_being_hashed)
    assert open_link(client, link, "open-sesame").status_code == 303
    [wrong] = meanwhile
    assert wrong.outcome == "wrong_password" and wrong.attempts_left == 1
    link.refresh_from_db()
    assert link.locked_at is None and link.use_count == 1
    assert link.password_failures == 2
    assert outbox("guestlink_locked") == []
    # The third wrong password is the one that locks.
    assert open_link(client, link, "wrong-3").status_code == 404
    link.refresh_from_db()
    assert link.locked_at is not None and link.password_failures == 3
    assert len(outbox("guestlink_locked")) == 1


def test_right_passwords_checked_at_the_same_moment_all_open(client, make_link, monkeypatch, rf):
    """One attempt allowed, and a second right password arrives while the first is being
    checked: attempts limit wrong passwords only, so both open (and a third, afterwards)."""
    from guestlinks.selectors import guestlink_find

    link = make_link(password="open-sesame", max_password_attempts=1, max_uses=5)
    real_check = services._password_matches
    meanwhile = []

    def another_arrives_meanwhile(checked_link, password):
        if not meanwhile:
            meanwhile.append(None)
            token = link.token
            meanwhile[0] = services.guestlink_open(
                link=guestlink_find(token), token=token, password=password, request=rf.post("/")
            )
        return real_check(checked_link, password)

    monkeypatch.setattr(services, "_password_matches", another_arrives_meanwhile)
    assert open_link(client, link, "open-sesame").status_code == 303
    assert meanwhile[0].outcome == "opened"
    assert open_link(client, link, "open-sesame").status_code == 303
    link.refresh_from_db()
    assert link.use_count == 3 and link.password_failures == 0 and link.locked_at is None


def test_birth_date_password(client, make_link):
    link = make_link(password_is_dob=True)
    assert open_link(client, link, "17/05/1970").status_code == 403
    assert open_link(client, link, "19700517").status_code == 303


def test_explicit_password_beats_birth_date_at_the_gate(client, make_link):
    link = make_link(password="typed-one", password_is_dob=True)
    assert open_link(client, link, "19700517").status_code == 403
    assert open_link(client, link, "typed-one").status_code == 303


def test_view_notification_to_the_creator(client, make_link, owner):
    link = make_link(max_uses=3, notify_on_view=True, email="guest@example.net")
    agent = "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 Chrome/126.0 Mobile Safari/537.36"
    open_link(client, link, HTTP_USER_AGENT=agent)
    open_link(client, link, HTTP_USER_AGENT=agent)
    notices = outbox("guestlink_opened")
    assert len(notices) == 2 and {n.recipient for n in notices} == {owner.email}
    email = render_email(notices[0])
    for expected in ("127.0.0.1", "Chrome on Android", "guest@example.net", "Uses left:  2"):
        assert expected in email.body
    assert "Uses left:  1" in render_email(notices[1]).body
    assert link.token not in email.body and "19700517" not in email.body


def test_no_view_notification_unless_asked(client, make_link):
    open_link(client, make_link())
    assert outbox("guestlink_opened") == []


def test_opening_logs_out_a_clinician_in_that_browser(client, make_link, owner):
    link = make_link()
    client.force_login(owner)
    old_key = client.session.session_key
    assert open_link(client, link).status_code == 303
    assert "_auth_user_id" not in client.session
    assert client.session.session_key != old_key
    assert client.get("/").status_code == 302  # back to the login page


def test_behind_the_proxy_the_guests_address_is_logged_and_reported(
    client, make_link, owner, settings
):
    settings.BEHIND_PROXY = True
    link = make_link(notify_on_view=True)
    forwarded = {"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": "6.6.6.6, 198.51.100.7"}
    assert open_link(client, link, **forwarded).status_code == 303
    assert GuestLinkAccess.objects.get().ip_address == "198.51.100.7"
    event = AuditEvent.objects.get(action=AuditEvent.Action.GUESTLINK_OPENED)
    assert event.ip_address == "198.51.100.7"
    [notice] = outbox("guestlink_opened")
    assert "198.51.100.7" in render_email(notice).body


# --- rate limits -------------------------------------------------------------------------


def test_rate_limit_per_address_and_link_before_any_hashing(client, make_link, settings, checks):
    settings.GUESTLINK_RATE_LIMIT_PER_IP = 2
    settings.GUESTLINK_RATE_LIMIT_PER_LINK = 0
    link = make_link(password="open-sesame")
    other = make_link(password="open-sesame")
    assert open_link(client, link, "bad-1").status_code == 403
    assert open_link(client, link, "bad-2").status_code == 403
    limited = open_link(client, link, "open-sesame")
    assert limited.status_code == 429
    assert "Too many attempts" in limited.content.decode()
    assert int(limited["Retry-After"]) > 0
    assert checks == ["bad-1", "bad-2"]  # the limited attempt hashed nothing
    link.refresh_from_db()
    assert link.password_failures == 2 and link.use_count == 0
    # The same address still opens another link, and another address this one.
    assert open_link(client, other, "open-sesame").status_code == 303
    assert open_link(client, link, "open-sesame", REMOTE_ADDR="10.1.2.3").status_code == 303
    limited_row = GuestLinkAccess.objects.get(outcome="rate_limited")
    assert limited_row.link == link
    assert (
        AuditEvent.objects.filter(
            action=AuditEvent.Action.GUESTLINK_ATTEMPT,
            outcome="denied",
            details__result="rate_limited",
        ).count()
        == 1
    )


def junk_url(index):
    return reverse("guestlinks:gate", kwargs={"token": f"{index:043d}"})


def test_junk_posts_to_unknown_tokens_cannot_block_real_links(client, make_link, settings):
    """Everyone behind one proxy or NAT shares an address: guessing tokens from it is capped
    on its own, and never blocks a link that opens."""
    settings.GUESTLINK_RATE_LIMIT_PER_IP = 3
    settings.GUESTLINK_RATE_LIMIT_GUESSES_PER_IP = 5
    link = make_link(password="open-sesame")
    dead = make_link()
    GuestLink.objects.filter(pk=dead.pk).update(deleted_at=timezone.now())
    for index in range(4):
        assert client.post(junk_url(index)).status_code == 404
    assert open_link(client, dead).status_code == 404  # a dead link counts as a guess too
    assert client.post(junk_url(99)).status_code == 429
    assert open_link(client, dead).status_code == 429  # dead and unknown look the same
    assert open_link(client, link, "open-sesame").status_code == 303
    assert open_link(client, link, "open-sesame", REMOTE_ADDR="10.9.9.9").status_code == 303
    assert client.post(junk_url(5), REMOTE_ADDR="10.9.9.9").status_code == 404


def test_a_flood_over_a_limit_is_logged_once_per_window(client, make_link, settings):
    from accounts.models import RateLimitBucket

    settings.GUESTLINK_RATE_LIMIT_PER_IP = 1
    settings.GUESTLINK_RATE_LIMIT_GUESSES_PER_IP = 1
    link = make_link(max_uses=100)

    def rows():
        return (
            GuestLinkAccess.objects.filter(outcome="rate_limited").count(),
            AuditEvent.objects.filter(details__result="rate_limited").count(),
        )

    assert open_link(client, link).status_code == 303
    assert client.post(junk_url(0)).status_code == 404
    for index in range(10):
        assert open_link(client, link).status_code == 429
        assert client.post(junk_url(index + 1)).status_code == 429
    assert rows() == (2, 2)  # the first limited hit on the link, and the first guess
    assert (
        GuestLinkAccess.objects.count() == 4
        and AuditEvent.objects.filter(
            action__in=[AuditEvent.Action.GUESTLINK_ATTEMPT, AuditEvent.Action.GUESTLINK_OPENED]
        ).count()
        == 4
    )
    RateLimitBucket.objects.all().delete()  # as when the next window starts
    for _ in range(3):
        open_link(client, link)
    assert rows() == (3, 3)


def test_rate_limit_per_link(client, make_link, settings, checks):
    settings.GUESTLINK_RATE_LIMIT_PER_IP = 0
    settings.GUESTLINK_RATE_LIMIT_PER_LINK = 2
    link = make_link(password="open-sesame", max_password_attempts=10)
    for address in ("10.0.0.1", "10.0.0.2"):
        assert open_link(client, link, "wrong", REMOTE_ADDR=address).status_code == 403
    assert open_link(client, link, "wrong", REMOTE_ADDR="10.0.0.3").status_code == 429
    assert len(checks) == 2
    assert GuestLink.objects.get(pk=link.pk).password_failures == 2
    assert open_link(client, make_link(), REMOTE_ADDR="10.0.0.3").status_code == 303


def test_rate_limited_page_says_nothing_about_a_dead_link(client, make_link, settings):
    settings.GUESTLINK_RATE_LIMIT_GUESSES_PER_IP = 1
    link = make_link()
    GuestLink.objects.filter(pk=link.pk).update(deleted_at=timezone.now())
    open_link(client, link)
    limited = open_link(client, link)
    assert limited.status_code == 429
    assert link.created_by.display_name not in limited.content.decode()


def test_rate_limit_counters_are_pruned(make_link, settings):
    from accounts import ratelimit
    from accounts.models import RateLimitBucket
    from accounts.tasks import prune_rate_limits

    rate = ratelimit.RateLimit("ip", 5, 60)
    assert [ratelimit.hit(rate, "1.2.3.4") for _ in range(3)] == [1, 2, 3]
    assert ratelimit.hit(rate, "5.6.7.8") == 1
    RateLimitBucket.objects.update(window_ends_at=timezone.now() - datetime.timedelta(seconds=1))
    assert prune_rate_limits() == 2
    assert ratelimit.hit(rate, "1.2.3.4") == 1
    assert "1.2.3.4" not in RateLimitBucket.objects.get().key


def test_csrf_is_required_even_with_the_null_origin_of_no_referrer_pages(make_link):
    """Browsers send `Origin: null` from a no-referrer page: accepted, but the token is not."""
    from django.test import Client

    link = make_link(max_uses=5)
    url = link.get_absolute_url()
    strict = Client(enforce_csrf_checks=True)
    assert strict.post(url, HTTP_ORIGIN="null").status_code == 403  # no token
    page = strict.get(url)
    token = page.cookies[django_settings.CSRF_COOKIE_NAME].value
    form = {"csrfmiddlewaretoken": token}
    assert strict.post(url, form, HTTP_ORIGIN="https://evil.example").status_code == 403
    assert GuestLink.objects.get(pk=link.pk).use_count == 0
    assert strict.post(url, form, HTTP_ORIGIN="null").status_code == 303
    assert strict.post(url, form, HTTP_ORIGIN="http://testserver").status_code == 303
    assert strict.post(url, form).status_code == 303
    assert GuestLink.objects.get(pk=link.pk).use_count == 3


def test_tokens_stay_out_of_the_request_log(client, make_link, caplog):
    link = make_link(password="open-sesame")
    GuestLink.objects.filter(pk=link.pk).update(deleted_at=timezone.now())
    with caplog.at_level("WARNING", logger="django.request"):
        client.get(link.get_absolute_url())
        open_link(client, link, "open-sesame")
    assert caplog.records
    for record in caplog.records:
        assert link.token not in record.getMessage()
        assert "/g/<token>" in record.getMessage()
