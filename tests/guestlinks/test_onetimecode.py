"""The one-time code after the password: the code read from the outbox (email, SMS), wrong
codes, expiry, single use, lockout, resend limits; what is stored, logged and audited."""

import datetime
import logging
import re

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from audit.models import AuditEvent
from guestlinks import onetimecode, services
from guestlinks.models import GuestLink, GuestLinkAccess, GuestLinkCode
from notifications.models import OutboundMessage
from notifications.services import message_prepare, render_email
from tests.guestlinks.conftest import open_link, outbox, viewer_url

pytestmark = pytest.mark.django_db

PASSWORD = "open-sesame"


@pytest.fixture
def code_link(make_link):
    return make_link(password=PASSWORD, email="guest@example.org", one_time_code=True, max_uses=3)


def emailed_code():
    """The code in the last code email in the outbox, as it renders when it is sent."""
    message = outbox("guestlink_code")[-1]
    assert message.channel == "email"
    email = render_email(message)
    assert "code to open" in email.subject
    return re.search(r"\b(\d{6})\b", email.body).group(1)


def texted_code():
    """The code in the last code SMS in the outbox, as the SMS backend gets it."""
    message = outbox("guestlink_code")[-1]
    assert message.channel == "sms"
    send = message_prepare(message=message)
    return re.search(r"code is (\d{6})", send.args[1]).group(1)


def send_code(client, link):
    response = open_link(client, link, PASSWORD)
    assert response.status_code == 303 and response["Location"] == link.get_absolute_url()
    return response


def enter(client, link, code):
    return client.post(link.get_absolute_url(), {"code": code})


# --- creating ----------------------------------------------------------------------------


def test_a_code_needs_a_recipient(make_link):
    with pytest.raises(ValidationError) as error:
        make_link(password=PASSWORD, one_time_code=True)
    assert "email address or mobile" in str(error.value.message_dict["one_time_code"])
    assert not GuestLink.objects.exists()


def test_the_option_is_stored_and_audited(code_link):
    assert code_link.one_time_code is True
    event = AuditEvent.objects.get(action=AuditEvent.Action.GUESTLINK_CREATED)
    assert event.details["one_time_code"] is True


# --- the flow ----------------------------------------------------------------------------


def test_right_password_sends_a_code_and_opens_nothing_yet(client, code_link):
    send_code(client, code_link)
    code_link.refresh_from_db()
    assert code_link.use_count == 0
    page = client.get(code_link.get_absolute_url())
    body = page.content.decode()
    assert page.status_code == 200 and 'name="code"' in body and "g…@example.org" in body
    assert 'autocomplete="one-time-code"' in body
    assert client.get(viewer_url(code_link.study)).status_code == 404  # no guest session
    code = emailed_code()
    stored = GuestLinkCode.objects.get()
    assert stored.code_hash != code and code not in stored.code_hash
    message = OutboundMessage.objects.get(template="guestlink_code")
    assert code not in str(message.context)  # the outbox row holds it sealed only
    access = list(GuestLinkAccess.objects.values_list("outcome", flat=True))
    assert access == ["code_sent"]


def test_right_code_opens_once_and_takes_one_use(client, code_link):
    send_code(client, code_link)
    response = enter(client, code_link, emailed_code())
    assert response.status_code == 303 and response["Location"] == viewer_url(code_link.study)
    assert client.get(viewer_url(code_link.study)).status_code == 200
    code_link.refresh_from_db()
    assert code_link.use_count == 1
    assert GuestLinkCode.objects.get().used_at is not None
    event = AuditEvent.objects.filter(action=AuditEvent.Action.GUESTLINK_OPENED).get()
    assert event.outcome == "success"


def test_a_code_works_once(client, code_link):
    send_code(client, code_link)
    code = emailed_code()
    assert enter(client, code_link, code).status_code == 303
    other = type(client)()
    # Another browser with the same code has no code of its own: the password comes first.
    assert enter(other, code_link, code).status_code == 303
    assert enter(other, code_link, code)["Location"] == code_link.get_absolute_url()
    code_link.refresh_from_db()
    assert code_link.use_count == 1


def test_code_of_the_same_session_cannot_be_used_twice(client, code_link, rf):
    send_code(client, code_link)
    code = emailed_code()
    session_cookie = client.cookies["sessionid"].value
    assert enter(client, code_link, code).status_code == 303
    # Replaying the old session (its cookie) with the code: refused, no second use.
    replay = type(client)()
    replay.cookies["sessionid"] = session_cookie
    response = enter(replay, code_link, code)
    assert response.status_code in (303, 400)
    code_link.refresh_from_db()
    assert code_link.use_count == 1


def test_sms_when_the_link_has_a_mobile(client, make_link, settings):
    link = make_link(
        password=PASSWORD, email="guest@example.org", mobile="+447911123456", one_time_code=True
    )
    send_code(client, link)
    body = client.get(link.get_absolute_url()).content.decode()
    assert "mobile number ending 56" in body
    assert [m.channel for m in outbox("guestlink_code")] == ["sms"]
    assert enter(client, link, texted_code()).status_code == 303


def test_spaces_in_the_code_are_fine_and_junk_is_not_counted(client, code_link):
    send_code(client, code_link)
    code = emailed_code()
    junk = enter(client, code_link, "12ab")
    assert junk.status_code == 400 and "6 digits" in junk.content.decode()
    code_link.refresh_from_db()
    assert code_link.code_failures == 0
    assert enter(client, code_link, f"{code[:3]} {code[3:]}").status_code == 303


def test_code_without_a_password_first_goes_back_to_the_password(client, code_link):
    response = enter(client, code_link, "123456")
    assert response.status_code == 303 and response["Location"] == code_link.get_absolute_url()
    assert 'name="password"' in client.get(code_link.get_absolute_url()).content.decode()
    code_link.refresh_from_db()
    assert code_link.code_failures == 0 and code_link.use_count == 0


def test_wrong_password_sends_no_code(client, code_link):
    assert open_link(client, code_link, "not-it").status_code == 403
    assert not outbox("guestlink_code")


# --- wrong codes and lockout -------------------------------------------------------------


def wrong(code):
    return f"{(int(code) + 1) % 1_000_000:06d}"


def test_wrong_codes_count_down_then_lock_the_link(client, code_link):
    send_code(client, code_link)
    code = emailed_code()
    for left in range(onetimecode.CODE_MAX_ATTEMPTS - 1, 0, -1):
        response = enter(client, code_link, wrong(code))
        assert response.status_code == 403
        assert f"{left} attempt" in response.content.decode()
    last = enter(client, code_link, wrong(code))
    assert last.status_code == 404
    code_link.refresh_from_db()
    assert code_link.state == GuestLink.State.LOCKED
    assert code_link.code_failures == onetimecode.CODE_MAX_ATTEMPTS
    # Locked: the right code opens nothing now, and the creator was told once.
    assert enter(client, code_link, code).status_code == 404
    (locked,) = outbox("guestlink_locked")
    assert "one-time codes" in render_email(locked).body
    outcomes = GuestLinkAccess.objects.filter(outcome="wrong_code").count()
    assert outcomes == onetimecode.CODE_MAX_ATTEMPTS
    assert AuditEvent.objects.filter(outcome="failure", details__result="wrong_code").count() == 5


def test_wrong_codes_are_counted_over_new_codes(client, code_link, settings):
    settings.GUESTLINK_CODE_RESEND_SECONDS = 0
    send_code(client, code_link)
    for _ in range(3):
        enter(client, code_link, wrong(emailed_code()))
    client.post(code_link.get_absolute_url(), {"resend": "1"})
    for _ in range(2):
        enter(client, code_link, wrong(emailed_code()))
    code_link.refresh_from_db()
    assert code_link.state == GuestLink.State.LOCKED


# --- expiry and resending ----------------------------------------------------------------


def test_an_expired_code_is_refused_and_a_new_one_works(client, code_link, settings):
    send_code(client, code_link)
    old = emailed_code()
    GuestLinkCode.objects.update(created_at=timezone.now() - datetime.timedelta(minutes=11))
    GuestLinkCode.objects.update(expires_at=timezone.now() - datetime.timedelta(minutes=1))
    response = enter(client, code_link, old)
    assert response.status_code == 400 and "expired" in response.content.decode()
    code_link.refresh_from_db()
    assert code_link.code_failures == 0 and code_link.use_count == 0
    assert client.post(code_link.get_absolute_url(), {"resend": "1"}).status_code == 200
    new = emailed_code()
    assert enter(client, code_link, new).status_code == 303


def test_a_new_code_replaces_the_old_one(client, code_link, settings):
    settings.GUESTLINK_CODE_RESEND_SECONDS = 0
    send_code(client, code_link)
    old = emailed_code()
    response = client.post(code_link.get_absolute_url(), {"resend": "1"})
    assert response.status_code == 200 and "new code is on its way" in response.content.decode()
    new = emailed_code()
    assert GuestLinkCode.objects.filter(used_at=None, expires_at__gt=timezone.now()).count() == 1
    if old != new:  # the session now waits for the new code: the old one is a wrong one
        assert enter(client, code_link, old).status_code == 403
    assert enter(client, code_link, new).status_code == 303


def test_resending_waits_between_codes(client, code_link):
    send_code(client, code_link)
    response = client.post(code_link.get_absolute_url(), {"resend": "1"})
    assert response.status_code == 429 and "in 3" in response.content.decode()
    assert len(outbox("guestlink_code")) == 1


def test_a_link_sends_only_so_many_codes(client, code_link, settings):
    settings.GUESTLINK_CODE_RESEND_SECONDS = 0
    settings.GUESTLINK_CODE_SENDS_PER_WINDOW = 3
    send_code(client, code_link)
    assert client.post(code_link.get_absolute_url(), {"resend": "1"}).status_code == 200
    assert client.post(code_link.get_absolute_url(), {"resend": "1"}).status_code == 200
    limited = client.post(code_link.get_absolute_url(), {"resend": "1"})
    assert limited.status_code == 429 and limited["Retry-After"]
    # The password again does not get round it.
    assert open_link(type(client)(), code_link, PASSWORD).status_code == 429
    assert len(outbox("guestlink_code")) == 3


def test_a_code_not_sent_in_time_never_goes_out(client, code_link, settings):
    """The delivery check refuses a code that expired while it waited (a retry, the sweep)."""
    send_code(client, code_link)
    message = OutboundMessage.objects.get(template="guestlink_code")
    GuestLinkCode.objects.update(expires_at=timezone.now())
    with pytest.raises(Exception, match="expired"):
        message_prepare(message=message)


def test_codes_never_reach_the_logs_access_log_or_audit(client, code_link, caplog):
    caplog.set_level(logging.DEBUG)
    send_code(client, code_link)
    code = emailed_code()
    enter(client, code_link, wrong(code))
    enter(client, code_link, code)
    assert code not in caplog.text and wrong(code) not in caplog.text
    for details in AuditEvent.objects.values_list("details", flat=True):
        assert code not in str(details) and wrong(code) not in str(details)


def test_a_link_without_the_option_ignores_a_code_field(client, make_link):
    link = make_link(password=PASSWORD)
    response = client.post(link.get_absolute_url(), {"password": PASSWORD, "code": "123456"})
    assert response.status_code == 303 and response["Location"] == viewer_url(link.study)


def test_seal_round_trip_and_hash_compare():
    code = onetimecode.new_code()
    assert len(code) == 6 and code.isdigit()
    assert onetimecode.unseal(onetimecode.seal(code, "abc"), "abc") == code
    assert onetimecode.normalise("１２３４５６") is None  # full-width digits are not a code
    assert onetimecode.normalise("123-456") == "123456"


def test_service_check_without_rate_limit_room(client, code_link, settings, rf):
    """The code step is rate-limited with the gate's own limits."""
    settings.GUESTLINK_RATE_LIMIT_PER_LINK = 2
    send_code(client, code_link)
    enter(client, code_link, "000000")
    assert enter(client, code_link, "000000").status_code == 429
    assert services.GATE.limits().per_link == 2
