import pytest
from django.urls import reverse

from audit.models import AuditEvent
from audit.services import record_event
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_events_are_append_only():
    event = record_event(action=AuditEvent.Action.STUDY_OPENED, study_instance_uid="1.2.3")
    event.outcome = AuditEvent.Outcome.FAILURE
    with pytest.raises(ValueError):
        event.save()
    with pytest.raises(ValueError):
        event.delete()
    assert AuditEvent.objects.get().outcome == AuditEvent.Outcome.SUCCESS


def test_the_actor_is_named_even_after_the_user_is_deleted():
    user = UserFactory(username="gone")
    record_event(action=AuditEvent.Action.LOGIN, actor=user)
    user.delete()
    event = AuditEvent.objects.get(action=AuditEvent.Action.LOGIN)
    assert event.actor is None and event.actor_label == "gone"


def test_admin_shows_events_read_only(client):
    admin = UserFactory(is_superuser=True, is_staff=True)
    event = record_event(action=AuditEvent.Action.LOGIN, actor=admin)
    client.force_login(admin)
    assert client.get(reverse("admin:audit_auditevent_changelist")).status_code == 200
    change_url = reverse("admin:audit_auditevent_change", args=[event.pk])
    page = client.get(change_url)
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    assert client.post(change_url, {"action": "logout"}).status_code == 403
    assert client.get(reverse("admin:audit_auditevent_add")).status_code == 403
