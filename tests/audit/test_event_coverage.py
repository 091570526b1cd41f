"""Every kind of audit event, produced by the real action (a view, or the service a view calls),
with who, what, which study, from where and the outcome; and each action's DICOM PS3.15 Annex
A.5 event type."""

import datetime

import pytest
from django.contrib.auth.models import Permission
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from audit.dicom import DICOM_EVENT_TYPES, NO_DICOM_EVENT_TYPE
from audit.models import AuditEvent
from guestlinks import services as guestlinks
from sharing.models import Invitation
from sharing.services import ShareTarget, invitation_accept, invitation_revoke, study_share
from tests.factories import (
    OrganisationFactory,
    UserFactory,
    WorklistFactory,
    ct_series,
    role_with,
)
from uploadlinks import services as uploadlinks
from worklists.models import Role

pytestmark = pytest.mark.django_db

BROWSER = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Safari/604.1"
FROM = {"REMOTE_ADDR": "198.51.100.23", "HTTP_USER_AGENT": BROWSER}


def events(action, **filters):
    return list(AuditEvent.objects.filter(action=action, **filters).order_by("id"))


def only(action, **filters):
    [event] = events(action, **filters)
    return event


def test_every_action_has_a_dicom_event_type_or_is_left_out_on_purpose():
    for action in AuditEvent.Action.values:
        assert (action in DICOM_EVENT_TYPES) != (action in NO_DICOM_EVENT_TYPE), action
    assert set(DICOM_EVENT_TYPES) <= set(AuditEvent.Action.values)
    event = AuditEvent(action=AuditEvent.Action.IMAGES_VIEWED)
    assert event.dicom_event == "DICOM Instances Accessed (110103)"


# --- logins -----------------------------------------------------------------------------


def test_logins_failures_and_throttling(client, settings):
    settings.LOGIN_MAX_FAILURES_PER_ACCOUNT = 2
    settings.LOGIN_FAILURE_WINDOW_SECONDS = 10**9
    user = UserFactory(username="ada")
    login = reverse("accounts:login")
    for _ in range(2):
        client.post(login, {"username": "ada", "password": "wrong"}, **FROM)
    assert client.post(login, {"username": "ada", "password": "wrong"}, **FROM).status_code == 429
    failed = events(AuditEvent.Action.LOGIN_FAILED, outcome="failure")
    assert len(failed) == 2 and failed[0].details == {"username": "ada"}
    assert failed[0].ip_address == "198.51.100.23" and failed[0].user_agent == BROWSER
    throttled = only(AuditEvent.Action.LOGIN_FAILED, outcome="denied")
    assert throttled.details["reason"] == "too_many_failures"
    assert throttled.dicom_event == "User Authentication (110114)"

    client.force_login(user)  # through Django's login(): the same signal as the form
    event = only(AuditEvent.Action.LOGIN)
    assert event.actor == user and event.actor_label == "ada"


# --- studies and images -----------------------------------------------------------------


def frame_url(instance, frame=1):
    series = instance.series
    return reverse(
        "dicomweb:frame_rendered",
        kwargs={
            "study": series.study.study_instance_uid,
            "series": series.series_instance_uid,
            "instance": instance.sop_instance_uid,
            "frame": frame,
        },
    )


@pytest.fixture
def two_series(study):
    return ct_series(study, slices=3, size=32), ct_series(study, slices=2, size=32, number=2)


def audit_writes(queries):
    return [q["sql"] for q in queries if "audit_auditevent" in q["sql"] and "INSERT" in q["sql"]]


def test_study_opened_and_images_viewed_once_per_session_and_series(
    login, read_only, study, two_series
):
    client = login(read_only)
    assert client.get(reverse("studies:detail", args=[study.public_id]), **FROM).status_code == 200
    opened = only(AuditEvent.Action.STUDY_OPENED)
    assert opened.actor == read_only and opened.study_instance_uid == study.study_instance_uid
    assert opened.ip_address == "198.51.100.23" and opened.user_agent == BROWSER

    first, second = two_series
    first_frames = [frame_url(instance) for instance in first.instances.all()]
    assert client.get(first_frames[0], **FROM).status_code == 200
    for url in first_frames * 2:  # every frame of the series, twice over
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url, **FROM).status_code == 200
        assert audit_writes(queries.captured_queries) == []
        assert len(queries.captured_queries) <= 3  # session, user, access: nothing for audit
    assert client.get(frame_url(second.instances.first()), **FROM).status_code == 200

    viewed = events(AuditEvent.Action.IMAGES_VIEWED)
    assert [event.details["series"] for event in viewed] == [
        first.series_instance_uid,
        second.series_instance_uid,
    ]
    assert all(event.actor == read_only for event in viewed)
    assert viewed[0].study_instance_uid == study.study_instance_uid
    assert viewed[0].ip_address == "198.51.100.23" and viewed[0].user_agent == BROWSER

    # A new session (signing in again) is a new viewing: its first frame is recorded again.
    client.logout()
    login(read_only).get(first_frames[1])
    assert len(events(AuditEvent.Action.IMAGES_VIEWED)) == 3


def test_thumbnails_are_not_images_viewed(login, read_only, study, two_series):
    client = login(read_only)
    first, _ = two_series
    url = reverse(
        "dicomweb:series_thumbnail",
        kwargs={"study": study.study_instance_uid, "series": first.series_instance_uid},
    )
    assert client.get(url).status_code == 200
    assert events(AuditEvent.Action.IMAGES_VIEWED) == []


def test_a_refused_frame_is_recorded_as_denied_never_as_viewed(login, outsider, study, two_series):
    first, _ = two_series
    assert login(outsider).get(frame_url(first.instances.first()), **FROM).status_code == 404
    [refused] = events(AuditEvent.Action.IMAGES_VIEWED)
    assert refused.outcome == AuditEvent.Outcome.DENIED and refused.actor == outsider
    assert refused.study_instance_uid == study.study_instance_uid
    assert refused.ip_address == "198.51.100.23"


def test_a_guest_viewing_images_is_recorded_with_the_link(
    client, owner, study, worklist, two_series
):
    link = guestlinks.guestlink_create(actor=owner, study=study, worklist=worklist)
    assert client.post(link.get_absolute_url(), **FROM).status_code == 303
    opened = only(AuditEvent.Action.GUESTLINK_OPENED)
    assert opened.guest_link_id == link.public_id and opened.actor is None
    assert opened.ip_address == "198.51.100.23" and opened.user_agent == BROWSER
    first, _ = two_series
    for instance in first.instances.all():
        assert client.get(frame_url(instance), **FROM).status_code == 200
    viewed = only(AuditEvent.Action.IMAGES_VIEWED)
    assert viewed.guest_link_id == link.public_id and viewed.actor is None
    assert viewed.study_instance_uid == study.study_instance_uid

    # The same browser signs in as a clinician (the session keeps its data through a login):
    # the clinician's viewing of that series is theirs, recorded again.
    client.force_login(owner)
    assert client.get(frame_url(first.instances.first()), **FROM).status_code == 200
    assert events(AuditEvent.Action.IMAGES_VIEWED)[-1].actor == owner


# --- shares and invitations ---------------------------------------------------------------


def test_shares_and_invitations_sent_delivered_accepted_and_revoked(
    client, owner, study, worklist, django_capture_on_commit_callbacks
):
    colleague_list = WorklistFactory(organisation=worklist.organisation, name="Cardiology")
    share_url = reverse("sharing:share", args=[worklist.public_id])
    response = client_for(client, owner).post(
        f"{share_url}?study={study.public_id}",
        {
            "study": [str(study.public_id)],
            "share": "1",
            "locations": [str(colleague_list.public_id)],
        },
        **FROM,
    )
    assert response.status_code in (200, 302, 303)
    shared = only(AuditEvent.Action.STUDY_SHARED)
    assert shared.actor == owner and shared.study_instance_uid == study.study_instance_uid
    assert shared.details["target_worklist"] == str(colleague_list.public_id)
    assert shared.ip_address == "198.51.100.23" and shared.dicom_event == "Export (110106)"

    with django_capture_on_commit_callbacks(execute=True):  # the outbox delivers on commit
        study_share(
            actor=owner,
            study=study,
            source_worklist=worklist,
            targets=[ShareTarget("email", "new.doc@clinic.example")],
        )
    created = only(AuditEvent.Action.INVITATION_CREATED)
    assert created.details["email"] == "new.doc@clinic.example"
    delivered = only(AuditEvent.Action.INVITATION_DELIVERED)
    assert delivered.outcome == "success" and delivered.details["channel"] == "email"
    assert delivered.study_instance_uid == study.study_instance_uid
    assert any("new.doc@clinic.example" in m.to for m in mail.outbox)

    invitation = Invitation.objects.get(email="new.doc@clinic.example")
    invitee = UserFactory(username="newdoc", email="new.doc@clinic.example", organisation=None)
    invitation_accept(actor=invitee, invitation=invitation)
    accepted = only(AuditEvent.Action.INVITATION_ACCEPTED, outcome="success")
    assert accepted.actor == invitee and accepted.study_instance_uid == study.study_instance_uid

    study_share(
        actor=owner,
        study=study,
        source_worklist=worklist,
        targets=[ShareTarget("email", "other@clinic.example")],
    )
    invitation_revoke(actor=owner, invitation=Invitation.objects.get(email="other@clinic.example"))
    revoked = only(AuditEvent.Action.INVITATION_REVOKED)
    assert revoked.actor == owner and revoked.dicom_event == "Security Alert (110113)"


def client_for(client, user):
    client.force_login(user)
    return client


# --- guest links --------------------------------------------------------------------------


def test_guest_link_created_delivered_refused_wrong_password_locked_opened_deleted(
    client, owner, study, worklist, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        link = guestlinks.guestlink_create(
            actor=owner,
            study=study,
            worklist=worklist,
            password="open-sesame",
            max_password_attempts=2,
            email="recipient@example.org",
        )
    created = only(AuditEvent.Action.GUESTLINK_CREATED)
    assert created.actor == owner and created.guest_link_id == link.public_id
    delivered = only(AuditEvent.Action.GUESTLINK_DELIVERED)
    assert delivered.guest_link_id == link.public_id and delivered.outcome == "success"
    assert delivered.study_instance_uid == study.study_instance_uid

    assert client.post(link.get_absolute_url(), {"password": "guess"}, **FROM).status_code == 403
    wrong = only(AuditEvent.Action.GUESTLINK_WRONG_PASSWORD)
    assert wrong.outcome == "failure" and wrong.guest_link_id == link.public_id
    assert wrong.ip_address == "198.51.100.23" and wrong.user_agent == BROWSER
    client.post(link.get_absolute_url(), {"password": "guess again"}, **FROM)
    locked = only(AuditEvent.Action.GUESTLINK_LOCKED)
    assert locked.outcome == "failure" and locked.dicom_event == "Security Alert (110113)"
    assert client.post(link.get_absolute_url(), {"password": "open-sesame"}).status_code == 404
    refused = only(AuditEvent.Action.GUESTLINK_ATTEMPT)
    assert refused.outcome == "denied" and refused.details["result"] == "refused"

    other = guestlinks.guestlink_create(actor=owner, study=study, worklist=worklist)
    client.post(other.get_absolute_url(), **FROM)
    assert only(AuditEvent.Action.GUESTLINK_OPENED).guest_link_id == other.public_id
    guestlinks.guestlink_delete(actor=owner, link=other)
    deleted = only(AuditEvent.Action.GUESTLINK_DELETED)
    assert deleted.actor == owner and deleted.study_instance_uid == study.study_instance_uid


def test_a_guest_link_that_could_not_be_delivered_is_recorded_as_failed(owner, study, worklist):
    link = guestlinks.guestlink_create(
        actor=owner, study=study, worklist=worklist, email="gone@example.org"
    )
    from notifications.models import OutboundMessage
    from notifications.services import message_deliver

    # Deleted before a retry sends it: the message fails for good, and the trail says why.
    guestlinks.guestlink_delete(actor=owner, link=link)
    message = OutboundMessage.objects.get(template="guestlink_invite")
    OutboundMessage.objects.filter(pk=message.pk).update(status="pending")
    message_deliver(message_id=message.pk)
    failed = only(AuditEvent.Action.GUESTLINK_DELIVERED, outcome="failure")
    assert failed.guest_link_id == link.public_id and "no longer usable" in failed.details["reason"]


# --- upload links -------------------------------------------------------------------------


@pytest.fixture
def staging(settings, tmp_path):
    settings.UPLOADLINK_STAGING_DIR = tmp_path / "staging"


def test_upload_link_created_delivered_changed_refused_wrong_password_locked_deleted(
    client, owner, worklist, staging, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        link = uploadlinks.uploadlink_create(
            actor=owner,
            worklist=worklist,
            password="open-sesame",
            max_password_attempts=2,
            email="sender@example.org",
        )
    assert only(AuditEvent.Action.UPLOADLINK_CREATED).guest_link_id == link.public_id
    assert only(AuditEvent.Action.UPLOADLINK_DELIVERED).outcome == "success"
    uploadlinks.uploadlink_update(actor=owner, link=link, max_password_attempts=2, message="Hi")
    assert only(AuditEvent.Action.UPLOADLINK_CHANGED).guest_link_id == link.public_id
    client.post(link.get_absolute_url(), {"password": "guess"}, **FROM)
    wrong = only(AuditEvent.Action.UPLOADLINK_WRONG_PASSWORD)
    assert wrong.guest_link_id == link.public_id and wrong.ip_address == "198.51.100.23"
    client.post(link.get_absolute_url(), {"password": "guess again"}, **FROM)
    assert only(AuditEvent.Action.UPLOADLINK_LOCKED).outcome == "failure"
    client.post(link.get_absolute_url(), {"password": "open-sesame"}, **FROM)
    assert only(AuditEvent.Action.UPLOADLINK_ATTEMPT).outcome == "denied"
    other = uploadlinks.uploadlink_create(actor=owner, worklist=worklist)
    client.post(other.get_absolute_url(), **FROM)
    assert only(AuditEvent.Action.UPLOADLINK_OPENED).guest_link_id == other.public_id
    uploadlinks.uploadlink_delete(actor=owner, link=other)
    assert only(AuditEvent.Action.UPLOADLINK_DELETED).actor == owner


# --- changes made in the admin ------------------------------------------------------------


@pytest.fixture
def admin_client(client):
    administrator = UserFactory(username="root", is_staff=True, is_superuser=True)
    client.force_login(administrator)
    return client


def admin_url(model, view, *args):
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def test_organisation_and_partnership_changes_in_the_admin(admin_client):
    from accounts.models import Organisation, Partnership

    partner = OrganisationFactory(name="Partner Hospital")
    response = admin_client.post(
        admin_url(Organisation, "add"),
        {
            "name": "New Clinic",
            "time_zone": "Europe/London",
            "is_active": "on",
            "outgoing_partnerships-TOTAL_FORMS": "1",
            "outgoing_partnerships-INITIAL_FORMS": "0",
            "outgoing_partnerships-0-to_organisation": str(partner.pk),
        },
        **FROM,
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    organisation = Organisation.objects.get(name="New Clinic")
    added = only(AuditEvent.Action.ORGANISATION_CHANGED)
    assert added.actor_label == "root" and added.details["operation"] == "added"
    assert added.details["object_id"] == str(organisation.pk)
    assert added.ip_address == "198.51.100.23"
    inline = only(AuditEvent.Action.PARTNERSHIP_CHANGED)
    assert inline.details["operation"] == "added" and "Partner Hospital" in inline.details["object"]

    admin_client.post(
        admin_url(Organisation, "change", organisation.pk),
        {
            "name": "New Clinic",
            "time_zone": "Europe/London",
            "outgoing_partnerships-TOTAL_FORMS": "1",
            "outgoing_partnerships-INITIAL_FORMS": "1",
            "outgoing_partnerships-0-id": str(Partnership.objects.get().pk),
            "outgoing_partnerships-0-from_organisation": str(organisation.pk),
            "outgoing_partnerships-0-to_organisation": str(partner.pk),
        },
    )
    changed = events(AuditEvent.Action.ORGANISATION_CHANGED)[-1]
    assert changed.details["operation"] == "changed"
    assert changed.details["values"] == {"is_active": False}  # deactivated: who, and to what

    partnership = Partnership.objects.get()
    response = admin_client.post(admin_url(Partnership, "delete", partnership.pk), {"post": "yes"})
    assert response.status_code == 302
    deleted = events(AuditEvent.Action.PARTNERSHIP_CHANGED)[-1]
    assert deleted.details["operation"] == "deleted"
    assert deleted.details["object_id"] == str(partnership.pk)


def test_role_membership_worklist_and_user_changes_in_the_admin(admin_client, worklist, read_only):
    role = role_with("view_studies", name="Viewer")
    view = Permission.objects.get(codename="view_studies")
    admin_client.post(
        admin_url(Role, "change", role.pk),
        {"name": "Viewer", "description": "", "permissions": [str(view.pk)]},
    )
    assert only(AuditEvent.Action.ROLE_CHANGED).details["role"] == "Viewer"  # the service's
    admin_client.post(admin_url(Role, "delete", role.pk), {"post": "yes"})
    deleted = events(AuditEvent.Action.ROLE_CHANGED)[-1]
    assert deleted.details["operation"] == "deleted" and deleted.details["object"] == "Viewer"

    from worklists.models import Membership

    membership = Membership.objects.get(user=read_only, worklist=worklist)
    admin_client.post(admin_url(Membership, "delete", membership.pk), {"post": "yes"})
    removed = events(AuditEvent.Action.MEMBERSHIP_CHANGED)[-1]
    assert removed.actor_label == "root" and removed.details["role"] is None

    admin_client.post(admin_url(type(worklist), "delete", worklist.pk), {"post": "yes"})
    assert events(AuditEvent.Action.WORKLIST_CHANGED)[-1].details["operation"] == "deleted"

    target = UserFactory(username="promoted")
    page = admin_client.get(admin_url(type(target), "change", target.pk))
    assert page.status_code == 200
    form = page.context["adminform"].form
    data = {
        name: value
        for name, value in form.initial.items()
        if value is not None and not isinstance(value, list | datetime.datetime)
    }
    data.update(
        {
            "username": "promoted",
            "is_staff": "on",
            "is_active": "on",
            "date_joined_0": "2026-01-01",
            "date_joined_1": "10:00:00",
            "Membership_user-TOTAL_FORMS": "0",
            "Membership_user-INITIAL_FORMS": "0",
            "memberships-TOTAL_FORMS": "0",
            "memberships-INITIAL_FORMS": "0",
        }
    )
    data.pop("password", None)
    data.pop("last_login", None)
    data.pop("organisation", None)
    response = admin_client.post(admin_url(type(target), "change", target.pk), data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    changed = only(AuditEvent.Action.USER_CHANGED)
    assert changed.details["values"]["is_staff"] is True
    assert "password" not in changed.details["values"]


def test_deleting_a_user_keeps_their_events(admin_client):
    gone = UserFactory(username="leaver")
    client_events = AuditEvent.objects.create(action="login", actor=gone, actor_label="leaver")
    response = admin_client.post(admin_url(type(gone), "delete", gone.pk), {"post": "yes"})
    assert response.status_code == 302
    kept = AuditEvent.objects.get(pk=client_events.pk)
    assert kept.actor is None and kept.actor_label == "leaver"
    assert only(AuditEvent.Action.USER_CHANGED).details["operation"] == "deleted"
    assert timezone.now() >= kept.created_at
