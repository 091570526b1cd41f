"""The audit trail in Django admin: filters by user, study, link, action, DICOM event type and
date, and "Export CSV" of exactly the filtered view, streamed and safe to open in a
spreadsheet."""

import csv
import datetime
import io
import uuid

import pytest
from django.urls import reverse
from django.utils import timezone

from audit.admin import csv_safe
from audit.models import AuditEvent
from audit.services import record_event
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:audit_auditevent_changelist"
EXPORT = "admin:audit_auditevent_export"
LINK = uuid.uuid4()


@pytest.fixture
def trail(db):
    ada, bob = UserFactory(username="ada"), UserFactory(username="bob")
    return {
        "ada_opened": record_event(
            action=AuditEvent.Action.STUDY_OPENED, actor=ada, study_instance_uid="1.2.3"
        ),
        "bob_opened": record_event(
            action=AuditEvent.Action.STUDY_OPENED, actor=bob, study_instance_uid="1.2.4"
        ),
        "guest": record_event(
            action=AuditEvent.Action.GUESTLINK_OPENED,
            guest_link_id=LINK,
            study_instance_uid="1.2.3",
        ),
        "login": record_event(action=AuditEvent.Action.LOGIN, actor=ada),
        "hostile": record_event(
            action=AuditEvent.Action.LOGIN_FAILED,
            outcome=AuditEvent.Outcome.FAILURE,
            details={"username": '=HYPERLINK("http://evil.example","x")'},
        ),
    }


@pytest.fixture
def admin_client(client):
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    return client


def listed(client, **params):
    response = client.get(reverse(CHANGELIST), params)
    assert response.status_code == 200
    return {event.pk for event in response.context["cl"].result_list}


def exported(client, **params):
    response = client.get(reverse(EXPORT), params)
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith('attachment; filename="audit-')
    body = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(body)))


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"user": "ADA"}, {"ada_opened", "login"}),
        ({"study": "1.2.3"}, {"ada_opened", "guest"}),
        ({"link": str(LINK)}, {"guest"}),
        ({"link": "not-a-uuid"}, set()),
        ({"action__exact": "study_opened"}, {"ada_opened", "bob_opened"}),
        ({"dicom_event": "User Authentication (110114)"}, {"guest", "login", "hostile"}),
        ({"outcome__exact": "failure"}, {"hostile"}),
        ({"user": "ada", "study": "1.2.3"}, {"ada_opened"}),
    ],
)
def test_filters_and_the_export_show_the_same_events(admin_client, trail, params, expected):
    ids = {trail[name].pk for name in expected}
    ours = {event.pk for event in trail.values()}  # not the administrator's own login
    assert listed(admin_client, **params) & ours == ids
    rows = exported(admin_client, **params)
    exported_events = [row for row in rows if row["user"] != "root"]
    assert len(exported_events) == len(ids)


def test_date_filters(admin_client, trail):
    today = timezone.localdate()
    tomorrow = today + datetime.timedelta(days=1)
    everything = {event.pk for event in trail.values()}
    assert listed(admin_client, **{"from": today.isoformat()}) >= everything
    assert listed(admin_client, **{"from": tomorrow.isoformat()}) == set()
    assert listed(admin_client, until=tomorrow.isoformat()) >= everything
    assert listed(admin_client, **{"from": "yesterday-ish"}) == set()


def test_the_export_holds_every_column_and_is_itself_recorded(admin_client, trail):
    rows = exported(admin_client, study="1.2.3", action__exact="guestlink_opened")
    [row] = rows
    assert row["action"] == "guestlink_opened"
    assert row["action_label"] == "Guest link opened"
    assert row["dicom_event"] == "User Authentication (110114)"
    assert row["link"] == str(LINK) and row["study_instance_uid"] == "1.2.3"
    assert row["time"] == trail["guest"].created_at.isoformat()
    export = AuditEvent.objects.get(action=AuditEvent.Action.AUDIT_EXPORTED)
    assert export.actor_label == "root"
    assert export.details["filters"] == {"study": ["1.2.3"], "action__exact": ["guestlink_opened"]}
    assert export.dicom_event == "Audit Log Used (110101)"


def test_the_export_is_safe_to_open_in_a_spreadsheet(admin_client, trail):
    [row] = exported(admin_client, outcome__exact="failure")
    assert row["details"].startswith("{")  # JSON: starts with a brace, left as it is
    assert "=HYPERLINK" in row["details"]
    for value in ("=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"):
        assert csv_safe(value) == "'" + value
    assert csv_safe("1.2.3") == "1.2.3" and csv_safe(None) == ""
    # A cell that starts with a formula character, through a username.
    record_event(
        action=AuditEvent.Action.LOGIN,
        actor=UserFactory(username="@evil"),
    )
    [evil] = exported(admin_client, user="@evil", action__exact="login")
    assert evil["user"] == "'@evil"


def test_the_changelist_has_the_export_button_with_the_current_filters(admin_client, trail):
    page = admin_client.get(reverse(CHANGELIST), {"study": "1.2.3"}).content.decode()
    assert f"{reverse(EXPORT)}?study=1.2.3" in page
    assert "DICOM event type" in page


def test_only_administrators_may_export(client, trail):
    assert client.get(reverse(EXPORT)).status_code == 302  # to the admin login
    client.force_login(UserFactory(username="clinician"))
    assert client.get(reverse(EXPORT)).status_code == 302
    staff = UserFactory(username="staff-without-audit", is_staff=True)
    client.force_login(staff)
    assert client.get(reverse(EXPORT)).status_code == 403
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.AUDIT_EXPORTED).exists()
