import datetime
import hashlib
import json

import pytest
from django.contrib.auth.hashers import check_password
from django.core import serializers
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from audit.models import AuditEvent
from guestlinks import services
from guestlinks.models import GuestLink, token_digest
from notifications.services import render_email
from tests.factories import StudyFactory, UserFactory, grant
from tests.guestlinks.conftest import outbox

pytestmark = pytest.mark.django_db


def test_defaults(make_link, owner, study, worklist):
    before = timezone.now()
    link = make_link()
    assert link.study == study and link.worklist == worklist and link.created_by == owner
    assert link.max_uses is None and link.use_count == 0
    assert before + datetime.timedelta(days=7) <= link.expires_at
    assert link.expires_at <= timezone.now() + datetime.timedelta(days=7)
    assert link.password_kind == GuestLink.PasswordKind.NONE and link.password_hash == ""
    assert link.max_password_attempts == 5
    assert not link.notify_on_view and not link.include_priors
    assert link.state == GuestLink.State.ACTIVE and link.is_usable
    assert outbox() == []  # no recipient: nothing sent


def test_every_option_is_stored(make_link):
    expires = timezone.now() + datetime.timedelta(hours=3)
    link = make_link(
        max_uses=3,
        expires_at=expires,
        password="s3cret-pass",
        max_password_attempts=2,
        email="guest@example.net",
        message="Your scan from Tuesday.",
        mobile="07911 123456",
        notify_on_view=True,
        include_priors=True,
    )
    link.refresh_from_db()
    assert link.max_uses == 3
    assert link.expires_at == expires
    assert link.password_kind == GuestLink.PasswordKind.PASSWORD
    assert link.password_hash.startswith("argon2$")
    assert check_password("s3cret-pass", link.password_hash)
    assert link.max_password_attempts == 2
    assert link.email == "guest@example.net" and link.message == "Your scan from Tuesday."
    assert str(link.mobile) == "+447911123456"  # E.164
    assert link.notify_on_view and link.include_priors


def test_birth_date_as_password(make_link, study):
    link = make_link(password_is_dob=True)
    assert link.password_kind == GuestLink.PasswordKind.BIRTH_DATE
    assert check_password(study.patient_birth_date.strftime("%Y%m%d"), link.password_hash)
    assert "19700517" not in link.password_hash


def test_explicit_password_overrides_birth_date(make_link):
    link = make_link(password="given-separately", password_is_dob=True)
    assert link.password_kind == GuestLink.PasswordKind.PASSWORD
    assert check_password("given-separately", link.password_hash)
    assert not check_password("19700517", link.password_hash)


def test_birth_date_unavailable_without_birth_date(owner, worklist):
    from tests.factories import add_to_worklist

    study = StudyFactory(patient_birth_date=None)
    add_to_worklist(study, worklist)
    with pytest.raises(ValidationError) as error:
        services.guestlink_create(actor=owner, study=study, worklist=worklist, password_is_dob=True)
    assert "password_is_dob" in error.value.message_dict
    assert not GuestLink.objects.exists()
    # ...but an explicit password still works for such a study.
    link = services.guestlink_create(
        actor=owner, study=study, worklist=worklist, password="typed-one", password_is_dob=True
    )
    assert link.password_kind == GuestLink.PasswordKind.PASSWORD


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"expires_at": timezone.now() - datetime.timedelta(minutes=1)}, "expires_at"),
        ({"expires_at": timezone.now() + datetime.timedelta(days=400)}, "expires_at"),
        ({"password": "short"}, "password"),
        ({"message": "Hello"}, "message"),
        ({"mobile": "12345"}, "mobile"),
        ({"email": "not-an-address"}, "email"),
        ({"max_uses": 0}, "max_uses"),
        ({"password": "long-enough", "max_password_attempts": 50}, "max_password_attempts"),
        ({"password": "long-enough", "max_password_attempts": 0}, "max_password_attempts"),
        ({"password": "long-enough", "max_password_attempts": -1}, "max_password_attempts"),
    ],
)
def test_bad_options_are_refused_and_nothing_is_written(make_link, options, field):
    with pytest.raises(ValidationError) as error:
        make_link(**options)
    assert field in error.value.message_dict
    assert not GuestLink.objects.exists()
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.GUESTLINK_CREATED).exists()
    assert outbox() == []


def test_permission_to_create(study, worklist, member, read_only, outsider):
    for user in (member, read_only, outsider):
        with pytest.raises(PermissionDenied):
            services.guestlink_create(actor=user, study=study, worklist=worklist)
    creator = UserFactory(organisation=worklist.organisation)
    grant(creator, worklist, "view_studies", "create_guest_links")
    assert services.guestlink_create(actor=creator, study=study, worklist=worklist).pk


def test_study_must_be_in_the_worklist(owner, worklist):
    elsewhere = StudyFactory()
    with pytest.raises(PermissionDenied):
        services.guestlink_create(actor=owner, study=elsewhere, worklist=worklist)


def test_token_is_long_random_and_not_stored(make_link):
    links = [make_link() for _ in range(3)]
    tokens = {link.token for link in links}
    assert len(tokens) == 3
    for link in links:
        assert len(link.token) == 43  # 256 bits, base64url
        assert link.token_digest == hashlib.sha256(link.token.encode()).hexdigest()
        assert link.get_absolute_url() == f"/g/{link.token}/"
    # A dump of the table (and of the outbox and the audit trail) holds no token.
    dump = serializers.serialize("json", GuestLink.objects.all())
    dump += serializers.serialize("json", AuditEvent.objects.all())
    for token in tokens:
        assert token not in dump


def test_token_needs_the_secret_key(make_link, settings):
    link = make_link()
    token = link.token
    settings.SECRET_KEY = "another-secret-key-entirely-0123456789-abcdefghij"
    assert link.token != token  # the stored secret alone does not give the URL
    assert token_digest(token) == link.token_digest


def test_audit_event(make_link, owner, study):
    link = make_link(max_uses=2, password="abcdefgh", email="a@example.net")
    event = AuditEvent.objects.get(action=AuditEvent.Action.GUESTLINK_CREATED)
    assert event.actor == owner and event.guest_link_id == link.public_id
    assert event.study_instance_uid == study.study_instance_uid
    assert event.details["max_uses"] == 2 and event.details["password"] == "password"
    assert "abcdefgh" not in json.dumps(event.details)


def test_email_to_the_recipient_has_message_and_link_but_no_password(make_link, owner):
    link = make_link(
        email="guest@example.net", message="Here are the images.", password="pass-word-1"
    )
    [message] = outbox("guestlink_invite")
    assert message.channel == "email" and message.recipient == "guest@example.net"
    assert link.token not in json.dumps(message.context)  # the outbox row holds no URL
    email = render_email(message)
    body = email.body + email.alternatives[0][0]
    assert f"/g/{link.token}/" in email.body
    assert f"/g/{link.token}/" in email.alternatives[0][0]
    assert "Here are the images." in body
    assert "pass-word-1" not in body + email.subject
    assert "password" in email.body.lower()  # says one is needed, given separately
    assert owner.display_name in email.subject


def test_birth_date_is_in_no_message(make_link, study):
    make_link(email="guest@example.net", mobile="+447911123456", password_is_dob=True)
    from django.template.loader import render_to_string

    texts = []
    for message in outbox():
        if message.channel == "email":
            email = render_email(message)
            texts += [email.subject, email.body, email.alternatives[0][0]]
        else:
            texts.append(render_to_string("sms/guestlink_invite.txt", message.context))
    joined = "\n".join(texts)
    for form in ("19700517", "17/05/1970", "1970-05-17", "17 May 1970"):
        assert form not in joined


def test_sms_to_the_mobile_with_the_link(make_link, settings):
    from notifications.tasks import deliver_message

    link = make_link(mobile="07911 123456", password="pass-word-1")
    [message] = outbox("guestlink_invite")
    assert message.channel == "sms" and message.recipient == "+447911123456"
    deliver_message(message.pk)  # the real task: renders and sends through SMS_BACKEND
    [sent] = list(settings.SMS_OUTBOX_DIR.iterdir())
    text = sent.read_text()
    assert text.startswith("To: +447911123456")
    assert f"/g/{link.token}/" in text
    assert "pass-word-1" not in text
    message.refresh_from_db()
    assert message.status == "sent"


def test_email_is_delivered_by_the_task(make_link, mailoutbox):
    from notifications.tasks import deliver_message

    link = make_link(email="guest@example.net")
    [message] = outbox()
    deliver_message(message.pk)
    [email] = mailoutbox
    assert email.to == ["guest@example.net"]
    assert link.get_absolute_url() in email.body


def test_delete(make_link, owner, study):
    link = make_link()
    services.guestlink_delete(actor=owner, link=link)
    link.refresh_from_db()
    assert link.deleted_at is not None and link.deleted_by == owner
    assert link.state == GuestLink.State.DELETED and not link.is_usable
    assert (
        AuditEvent.objects.filter(
            action=AuditEvent.Action.GUESTLINK_DELETED, guest_link_id=link.public_id
        ).count()
        == 1
    )
    services.guestlink_delete(actor=owner, link=link)  # twice: no second event
    assert AuditEvent.objects.filter(action=AuditEvent.Action.GUESTLINK_DELETED).count() == 1


def test_who_may_delete(study, worklist, read_only, outsider):
    creator = UserFactory(organisation=worklist.organisation)
    grant(creator, worklist, "view_studies", "create_guest_links")
    viewer = UserFactory(organisation=worklist.organisation)
    grant(viewer, worklist, "view_studies", "view_guest_links")
    colleague = UserFactory(organisation=worklist.organisation)
    grant(colleague, worklist, "view_studies", "create_guest_links")
    link = services.guestlink_create(actor=creator, study=study, worklist=worklist)
    for user in (viewer, read_only, outsider):
        with pytest.raises(PermissionDenied):
            services.guestlink_delete(actor=user, link=link)
    services.guestlink_delete(actor=colleague, link=link)
    assert GuestLink.objects.get(pk=link.pk).deleted_at is not None
    # The creator may delete their own link even after losing the permission.
    other = services.guestlink_create(actor=creator, study=study, worklist=worklist)
    grant(creator, worklist, "view_studies")
    services.guestlink_delete(actor=creator, link=other)
    assert GuestLink.objects.get(pk=other.pk).deleted_at is not None


@pytest.mark.parametrize(
    ("change", "state"),
    [
        ({}, "active"),
        ({"expires_at": timezone.now() - datetime.timedelta(seconds=1)}, "expired"),
        ({"max_uses": 2, "use_count": 2}, "used_up"),
        ({"locked_at": timezone.now()}, "locked"),
        ({"deleted_at": timezone.now()}, "deleted"),
        # The strongest reason wins: a deleted, expired link shows as deleted.
        ({"deleted_at": timezone.now(), "expires_at": timezone.now()}, "deleted"),
    ],
)
def test_states(make_link, change, state):
    link = make_link()
    GuestLink.objects.filter(pk=link.pk).update(**change)
    link.refresh_from_db()
    assert link.state == state
    assert link.is_usable is (state == "active")
    assert link.allows_session_at(timezone.now()) is (state in ("active", "used_up"))


# --- the message never carries the password or the birth date (the study's is 17 May 1970) --


@pytest.mark.parametrize(
    "message",
    [
        "pw is 19700517",
        "Born 17/05/1970, as agreed.",
        "dob 17/5/1970",
        "1970-05-17",
        "17.05.1970",
        "17-05-1970",
        "(05/17/1970)",
        "17 May 1970",
        "May 17th, 1970",
        "17/05/70",
        "17-May-1970",
        "17 05 1970",
        "1970 05 17",
        "17.V.1970",
        "17th of May 1970",
    ],
)
def test_a_message_with_the_birth_date_is_refused(make_link, message):
    with pytest.raises(ValidationError) as error:
        make_link(email="guest@example.net", message=message)
    assert "birth date" in " ".join(error.value.message_dict["message"])
    assert not GuestLink.objects.exists() and outbox() == []


@pytest.mark.parametrize("message", ["The password is open-sesame", "pw: OPEN-SESAME."])
def test_a_message_with_the_password_is_refused(make_link, message):
    with pytest.raises(ValidationError) as error:
        make_link(email="guest@example.net", message=message, password="open-sesame")
    assert "password" in " ".join(error.value.message_dict["message"])
    assert not GuestLink.objects.exists() and outbox() == []


@pytest.mark.parametrize(
    "message",
    [
        "Scan of 17/05/2024, see you on 1970 Road.",
        "Ref 119700517 and 197005170.",  # longer numbers are not the date
        "Call 0117 05 1970.",
        "Please open it soon.",
    ],
)
def test_other_dates_and_numbers_are_fine(make_link, message):
    link = make_link(email="guest@example.net", message=message, password="open-sesame")
    assert link.message == message


# --- a message for a link that no longer opens is never sent -------------------------------


def _sms_files(settings):
    folder = settings.SMS_OUTBOX_DIR
    return list(folder.iterdir()) if folder.exists() else []


@pytest.mark.parametrize(
    "change",
    [
        {"deleted_at": timezone.now()},
        {"expires_at": timezone.now() - datetime.timedelta(seconds=1)},
        {"locked_at": timezone.now()},
        {"use_count": 1},
    ],
)
def test_a_late_invite_for_a_dead_link_is_failed_not_sent(make_link, mailoutbox, settings, change):
    from notifications.tasks import deliver_message

    link = make_link(email="guest@example.net", mobile="+447911123456", max_uses=1)
    GuestLink.objects.filter(pk=link.pk).update(**change)
    messages = outbox("guestlink_invite")
    assert {message.channel for message in messages} == {"email", "sms"}
    for message in messages:
        deliver_message(message.pk)  # a late first try or a retry
        message.refresh_from_db()
        assert message.status == "failed" and message.sent_at is None
        assert "link is no longer usable" in message.last_error
    assert mailoutbox == [] and _sms_files(settings) == []


def test_send_again_after_the_link_was_deleted_sends_nothing(
    make_link, owner, mailoutbox, settings, django_capture_on_commit_callbacks
):
    from notifications.services import messages_send_again
    from notifications.tasks import deliver_message

    link = make_link(email="guest@example.net", mobile="+447911123456")
    messages = outbox("guestlink_invite")
    for message in messages:
        deliver_message(message.pk)
    assert len(mailoutbox) == 1 and len(_sms_files(settings)) == 1
    services.guestlink_delete(actor=owner, link=link)
    with django_capture_on_commit_callbacks(execute=True):
        messages_send_again(message_ids=[message.pk for message in messages])
    assert len(mailoutbox) == 1 and len(_sms_files(settings)) == 1  # nothing more went out
    for message in messages:
        message.refresh_from_db()
        assert message.status == "failed" and "no longer usable" in message.last_error
