"""Creating, editing, disabling and deleting upload links (the service contract)."""

import datetime

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from audit.models import AuditEvent
from notifications.models import OutboundMessage
from notifications.services import render_email
from uploadlinks import services
from uploadlinks.models import UploadLink

pytestmark = pytest.mark.django_db


def test_create_returns_a_link_whose_url_opens_its_gate(owner, worklist, client):
    link = services.uploadlink_create(
        actor=owner,
        worklist=worklist,
        max_uses=3,
        password="open-sesame",
        max_password_attempts=4,
        email="gp@example.org",
        message="Please send the CD images",
        mobile="+447911123456",
        notify_on_upload=True,
    )
    assert link.get_absolute_url().startswith("/u/") and link.is_usable
    assert link.has_password and link.password_hash != "open-sesame"
    assert (link.max_uses, link.max_password_attempts, link.notify_on_upload) == (3, 4, True)
    assert client.get(link.get_absolute_url()).status_code == 200
    event = AuditEvent.objects.get(action="uploadlink_created")
    assert event.actor == owner and event.details["upload_link"] == str(link.public_id)
    email = OutboundMessage.objects.get(channel="email", template="uploadlink_invite")
    sms = OutboundMessage.objects.get(channel="sms", template="uploadlink_invite")
    assert email.recipient == "gp@example.org" and sms.recipient == "+447911123456"
    assert link.token not in str(email.context)  # the outbox never holds a usable URL
    body = render_email(email).body
    assert link.get_absolute_url() in body and "Please send the CD images" in body
    assert "open-sesame" not in body


def test_defaults_match_the_contract(owner, worklist):
    link = services.uploadlink_create(actor=owner, worklist=worklist)
    assert link.max_uses is None and not link.has_password and link.max_password_attempts == 5
    assert timezone.now() + datetime.timedelta(days=6) < link.expires_at
    assert not OutboundMessage.objects.exists()


@pytest.mark.parametrize("who", ["member", "read_only", "outsider"])
def test_only_users_who_may_manage_upload_links_create_them(request, worklist, who):
    user = request.getfixturevalue(who)
    with pytest.raises(PermissionDenied):
        services.uploadlink_create(actor=user, worklist=worklist)
    assert not UploadLink.objects.exists()


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"expires_at": "past"}, "expires_at"),
        ({"expires_at": "too late"}, "expires_at"),
        ({"password": "short"}, "password"),
        ({"max_password_attempts": 0}, "max_password_attempts"),
        ({"max_password_attempts": 21}, "max_password_attempts"),
        ({"max_uses": 0}, "max_uses"),
        ({"message": "hello"}, "message"),  # a message needs an email to go in
        ({"message": "pw is blue-heron", "email": "a@b.org", "password": "blue-heron"}, "message"),
    ],
)
def test_bad_options_are_refused_with_the_field(owner, worklist, options, field):
    now = timezone.now()
    if options.get("expires_at") == "past":
        options["expires_at"] = now - datetime.timedelta(minutes=1)
    elif options.get("expires_at") == "too late":
        options["expires_at"] = now + datetime.timedelta(days=400)
    with pytest.raises(ValidationError) as error:
        services.uploadlink_create(actor=owner, worklist=worklist, **options)
    assert field in error.value.message_dict
    assert not UploadLink.objects.exists()


def test_update_extends_changes_limits_disables_and_re_enables(owner, worklist, client, make_link):
    link = make_link(max_uses=1, expires_at=timezone.now() + datetime.timedelta(hours=1))
    later = timezone.now() + datetime.timedelta(days=20)
    link = services.uploadlink_update(
        actor=owner, link=link, expires_at=later, max_uses=10, message="", label="Ward 7"
    )
    assert (link.expires_at, link.max_uses, link.label) == (later, 10, "Ward 7")
    link = services.uploadlink_update(actor=owner, link=link, disabled=True)
    assert link.state == "disabled" and not link.is_usable
    assert client.get(link.get_absolute_url()).status_code == 404
    link = services.uploadlink_update(actor=owner, link=link, disabled=False)
    assert link.is_usable and client.get(link.get_absolute_url()).status_code == 200
    changes = [e.details["changed"] for e in AuditEvent.objects.filter(action="uploadlink_changed")]
    assert ["disabled"] in changes and len(changes) == 3


def test_update_sets_keeps_and_removes_the_password(owner, make_link):
    link = make_link(password="first-password")
    first = link.password_hash
    link = services.uploadlink_update(actor=owner, link=link, label="x")
    assert link.password_hash == first
    link = services.uploadlink_update(actor=owner, link=link, password="second-password")
    assert link.password_hash not in ("", first)
    link = services.uploadlink_update(actor=owner, link=link, password=None)
    assert not link.has_password


def test_update_refuses_fewer_uses_than_taken_and_unknown_settings(owner, make_link):
    link = make_link(max_uses=5)
    UploadLink.objects.filter(pk=link.pk).update(use_count=3)
    with pytest.raises(ValidationError) as error:
        services.uploadlink_update(actor=owner, link=link, max_uses=2)
    assert "max_uses" in error.value.message_dict
    with pytest.raises(TypeError):
        services.uploadlink_update(actor=owner, link=link, worklist=None)


def test_update_and_delete_need_the_permission(make_link, read_only, member, owner):
    link = make_link()
    for user in (read_only, member):
        with pytest.raises(PermissionDenied):
            services.uploadlink_update(actor=user, link=link, max_uses=3)
        with pytest.raises(PermissionDenied):
            services.uploadlink_delete(actor=user, link=link)
    services.uploadlink_delete(actor=owner, link=link)
    link.refresh_from_db()
    assert link.state == "deleted" and link.deleted_by == owner
    with pytest.raises(ValidationError):
        services.uploadlink_update(actor=owner, link=link, max_uses=3)
    assert AuditEvent.objects.filter(action="uploadlink_deleted").count() == 1
    services.uploadlink_delete(actor=owner, link=link)  # again: nothing more happens
    assert AuditEvent.objects.filter(action="uploadlink_deleted").count() == 1


def test_an_invite_for_a_link_gone_before_sending_is_not_sent(owner, worklist):
    from links.delivery import LinkUnusable

    link = services.uploadlink_create(actor=owner, worklist=worklist, email="gp@example.org")
    services.uploadlink_delete(actor=owner, link=link)
    message = OutboundMessage.objects.get(template="uploadlink_invite")
    with pytest.raises(LinkUnusable):
        render_email(message)
