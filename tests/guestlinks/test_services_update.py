"""guestlink_update: every field a link may change over its life, who may change it, and what
the audit trail and the gate make of each change."""

import datetime

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from audit.models import AuditEvent
from guestlinks import services
from guestlinks.models import GuestLink
from tests.factories import UserFactory, grant
from tests.guestlinks.conftest import open_link, outbox
from worklists.access import has_worklist_perm

pytestmark = pytest.mark.django_db

Action = AuditEvent.Action


def changed_events(link):
    return list(
        AuditEvent.objects.filter(action=Action.GUESTLINK_CHANGED, guest_link_id=link.public_id)
    )


def update(owner, link, **changes):
    return services.guestlink_update(actor=owner, link=link, **changes)


# --- each field --------------------------------------------------------------------------


def test_extend_and_shorten_the_expiry(owner, make_link):
    link = make_link()
    later = timezone.now() + datetime.timedelta(days=20)
    update(owner, link, expires_at=later)
    assert GuestLink.objects.get(pk=link.pk).expires_at == later
    sooner = timezone.now() + datetime.timedelta(hours=2)
    update(owner, link, expires_at=sooner)
    assert GuestLink.objects.get(pk=link.pk).expires_at == sooner
    first, second = sorted(changed_events(link), key=lambda event: event.pk)
    assert first.details["changed"]["expires_at"][1] == later.isoformat()
    assert second.details["changed"]["expires_at"] == [later.isoformat(), sooner.isoformat()]
    assert second.actor == owner


def test_an_expired_link_extended_opens_again(client, owner, make_link):
    link = make_link()
    GuestLink.objects.filter(pk=link.pk).update(expires_at=timezone.now())
    assert open_link(client, link).status_code == 404
    update(owner, link, expires_at=timezone.now() + datetime.timedelta(days=1))
    assert open_link(client, link).status_code == 303


@pytest.mark.parametrize(
    "expires_at, message",
    [
        (lambda: timezone.now() - datetime.timedelta(minutes=1), "in the future"),
        (lambda: timezone.now() + datetime.timedelta(days=400), "at most a year"),
    ],
    ids=["past", "too-long"],
)
def test_expiry_is_checked_as_at_creation(owner, make_link, expires_at, message):
    link = make_link()
    with pytest.raises(ValidationError) as error:
        update(owner, link, expires_at=expires_at())
    assert message in " ".join(error.value.message_dict["expires_at"])
    assert GuestLink.objects.get(pk=link.pk).expires_at == link.expires_at
    assert not changed_events(link)


def test_raise_and_lower_max_uses(client, owner, make_link):
    link = make_link(max_uses=1)
    assert open_link(client, link).status_code == 303
    assert GuestLink.objects.get(pk=link.pk).state == "used_up"
    update(owner, link, max_uses=3)
    assert GuestLink.objects.get(pk=link.pk).state == "active"
    update(owner, link, max_uses=None)  # no limit
    assert GuestLink.objects.get(pk=link.pk).max_uses is None
    update(owner, link, max_uses=1)  # back to what was used: used up again
    assert GuestLink.objects.get(pk=link.pk).state == "used_up"
    with pytest.raises(ValidationError) as error:
        update(owner, link, max_uses=0)
    assert "cannot be lower" in " ".join(error.value.message_dict["max_uses"])


def test_max_uses_cannot_go_below_what_was_used(client, owner, make_link):
    link = make_link(max_uses=5)
    open_link(client, link)
    open_link(client, link)
    with pytest.raises(ValidationError) as error:
        update(owner, link, max_uses=1)
    assert "opened 2 times" in " ".join(error.value.message_dict["max_uses"])


def test_raise_and_lower_max_password_attempts(client, owner, make_link):
    link = make_link(password="right-one", max_password_attempts=3)
    open_link(client, link, "wrong-one")
    update(owner, link, max_password_attempts=10)
    assert GuestLink.objects.get(pk=link.pk).max_password_attempts == 10
    update(owner, link, max_password_attempts=2)
    assert GuestLink.objects.get(pk=link.pk).max_password_attempts == 2
    with pytest.raises(ValidationError) as error:  # 1 wrong already: 1 would lock it
        update(owner, link, max_password_attempts=1)
    assert "unlock" in " ".join(error.value.message_dict["max_password_attempts"])
    with pytest.raises(ValidationError):
        update(owner, link, max_password_attempts=21)


def test_change_the_message(owner, make_link, study):
    link = make_link(email="guest@example.net", message="Here are your images.")
    update(owner, link, message="New words.")
    assert GuestLink.objects.get(pk=link.pk).message == "New words."
    birth = study.patient_birth_date.strftime("%d/%m/%Y")
    with pytest.raises(ValidationError) as error:
        update(owner, link, message=f"Born {birth}")
    assert "birth date" in " ".join(error.value.message_dict["message"])
    with pytest.raises(ValidationError):  # a message without an email goes nowhere
        update(owner, link, email="")


def test_a_new_email_is_sent_the_link(owner, make_link, settings):
    settings.SITE_URL = "https://share.example.org"
    link = make_link(email="first@example.net")
    assert [m.recipient for m in outbox("guestlink_invite")] == ["first@example.net"]
    update(owner, link, email="second@example.net")
    assert [m.recipient for m in outbox("guestlink_invite")] == [
        "first@example.net",
        "second@example.net",
    ]
    (event,) = changed_events(link)
    assert event.details["changed"]["email"] == ["first@example.net", "second@example.net"]
    assert event.details["sent_to"] == ["email"]


def test_add_a_mobile_sends_only_the_sms(owner, make_link):
    link = make_link(email="first@example.net")
    update(owner, link, mobile="+447911123456")
    invites = outbox("guestlink_invite")
    assert [(m.channel, m.recipient) for m in invites] == [
        ("email", "first@example.net"),
        ("sms", "+447911123456"),
    ]


def test_send_again_sends_to_every_recipient(owner, make_link):
    link = make_link(email="a@example.net", mobile="+447911123456")
    update(owner, link, send=True)
    assert len(outbox("guestlink_invite")) == 4


def test_nothing_changed_records_nothing(owner, make_link):
    link = make_link(email="a@example.net", max_uses=3)
    update(owner, link, email="a@example.net", max_uses=3, disabled=False)
    assert not changed_events(link)
    assert len(outbox("guestlink_invite")) == 1


def test_a_link_that_does_not_open_is_not_sent(owner, make_link):
    link = make_link(email="a@example.net")
    update(owner, link, disabled=True)
    with pytest.raises(ValidationError) as error:
        update(owner, link, send=True)
    assert "send" in error.value.message_dict
    update(owner, link, email="b@example.net")  # changed, but not sent while disabled
    assert [m.recipient for m in outbox("guestlink_invite")] == ["a@example.net"]
    update(owner, link, disabled=False, send=True)
    assert [m.recipient for m in outbox("guestlink_invite")] == ["a@example.net", "b@example.net"]


def test_disable_and_enable(client, owner, make_link):
    link = make_link()
    update(owner, link, disabled=True)
    link.refresh_from_db()
    assert link.state == "disabled" and link.state_label == "Disabled" and not link.is_usable
    assert open_link(client, link).status_code == 404
    update(owner, link, disabled=False)
    assert GuestLink.objects.get(pk=link.pk).state == "active"
    assert open_link(client, link).status_code == 303
    details = [event.details for event in sorted(changed_events(link), key=lambda e: e.pk)]
    assert [d["changed"] for d in details] == [{"disabled": True}, {"disabled": False}]


def test_disabling_ends_a_guest_session_at_once(client, owner, make_link, study):
    link = make_link()
    opened = open_link(client, link)
    assert client.get(opened["Location"]).status_code == 200
    update(owner, link, disabled=True)
    assert client.get(opened["Location"]).status_code == 404


def test_unlock_resets_the_count_and_is_audited(client, owner, make_link):
    link = make_link(password="right-one", max_password_attempts=2)
    open_link(client, link, "wrong-one")
    open_link(client, link, "wrong-two")
    link.refresh_from_db()
    assert link.state == "locked" and link.password_failures == 2
    update(owner, link, unlock=True)
    link.refresh_from_db()
    assert link.state == "active" and link.password_failures == 0 and link.locked_at is None
    (event,) = AuditEvent.objects.filter(action=Action.GUESTLINK_UNLOCKED)
    assert event.actor == owner and event.guest_link_id == link.public_id
    assert open_link(client, link, "right-one").status_code == 303
    with pytest.raises(ValidationError):  # not locked any more
        update(owner, link, unlock=True)


def test_unlock_with_fewer_attempts(client, owner, make_link):
    link = make_link(password="right-one", max_password_attempts=2)
    open_link(client, link, "wrong-one")
    open_link(client, link, "wrong-two")
    update(owner, link, unlock=True, max_password_attempts=1)
    link.refresh_from_db()
    assert (link.state, link.max_password_attempts, link.password_failures) == ("active", 1, 0)


def test_a_deleted_link_cannot_change(owner, make_link):
    link = make_link()
    services.guestlink_delete(actor=owner, link=link)
    with pytest.raises(ValidationError):
        update(owner, link, disabled=False)


def test_unknown_settings_are_refused(owner, make_link):
    link = make_link()
    with pytest.raises(TypeError):
        update(owner, link, use_count=0)
    with pytest.raises(TypeError):
        update(owner, link, password_hash="")


# --- who may ------------------------------------------------------------------------------


def test_creator_without_the_permission_may_change_their_link(worklist, study):
    creator = UserFactory(organisation=worklist.organisation)
    grant(creator, worklist, "view_studies", "create_guest_links")
    link = services.guestlink_create(actor=creator, study=study, worklist=worklist)
    # Their role changes: they keep the right to manage what they made.
    grant(creator, worklist, "view_studies")
    creator = type(creator).objects.get(pk=creator.pk)  # no cached permissions
    assert not has_worklist_perm(creator, "create_guest_links", worklist)
    services.guestlink_update(actor=creator, link=link, disabled=True)
    assert GuestLink.objects.get(pk=link.pk).state == "disabled"


def test_permission_holder_may_change_anothers_link(make_link, worklist):
    link = make_link()
    colleague = UserFactory(organisation=worklist.organisation)
    grant(colleague, worklist, "view_studies", "create_guest_links")
    services.guestlink_update(actor=colleague, link=link, max_uses=9)
    assert GuestLink.objects.get(pk=link.pk).max_uses == 9


@pytest.mark.parametrize("who", ["member", "read_only", "outsider"])
def test_others_may_not(request, make_link, who):
    link = make_link()
    actor = request.getfixturevalue(who)
    for changes in ({"max_uses": 9}, {"unlock": True}, {"disabled": True}):
        with pytest.raises(PermissionDenied):
            services.guestlink_update(actor=actor, link=link, **changes)
    assert GuestLink.objects.get(pk=link.pk).max_uses is None
    assert not changed_events(link)
