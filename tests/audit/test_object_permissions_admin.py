"""Object permissions granted or removed on a worklist's "Object permissions" pages in the
admin (django-guardian's GuardedModelAdmin) are in the audit trail, like role and membership
changes: who, from where, on which worklist, whose permissions, what was added and removed."""

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse
from guardian.shortcuts import get_group_perms, get_user_perms

from audit.models import AuditEvent
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

FROM = {"REMOTE_ADDR": "198.51.100.23", "HTTP_USER_AGENT": "Admin browser"}


@pytest.fixture
def administrator(client):  # type: ignore[no-untyped-def]
    root = UserFactory(username="root", is_staff=True, is_superuser=True)
    client.force_login(root)
    return root


def changes():  # type: ignore[no-untyped-def]
    return list(
        AuditEvent.objects.filter(action=AuditEvent.Action.OBJECT_PERMISSION_CHANGED).order_by("id")
    )


def test_a_users_object_permissions_granted_and_removed(client, administrator, worklist):
    user = UserFactory(username="dana", organisation=worklist.organisation)
    url = reverse("admin:worklists_worklist_permissions_manage_user", args=[worklist.pk, user.pk])
    assert client.get(url).status_code == 200

    response = client.post(url, {"permissions": ["view_studies", "share_study"]}, **FROM)
    assert response.status_code == 302
    assert set(get_user_perms(user, worklist)) == {"view_studies", "share_study"}
    [granted] = changes()
    assert granted.actor == administrator and granted.outcome == "success"
    assert granted.dicom_event == "Security Alert (110113)"
    assert granted.ip_address == "198.51.100.23" and granted.user_agent == "Admin browser"
    assert granted.details["model"] == "worklists.Worklist"
    assert granted.details["object_id"] == str(worklist.pk)
    assert granted.details["user"] == "dana"
    assert granted.details["added"] == ["share_study", "view_studies"]
    assert granted.details["removed"] == []

    client.post(url, {"permissions": ["view_studies"]}, **FROM)
    assert set(get_user_perms(user, worklist)) == {"view_studies"}
    removed = changes()[-1]
    assert (removed.details["added"], removed.details["removed"]) == ([], ["share_study"])

    client.post(url, {"permissions": ["view_studies"]}, **FROM)  # saved, nothing changed
    assert len(changes()) == 2


def test_a_groups_object_permissions_granted(client, administrator, worklist):
    group = Group.objects.create(name="Night shift")
    url = reverse("admin:worklists_worklist_permissions_manage_group", args=[worklist.pk, group.pk])
    assert client.post(url, {"permissions": ["view_studies"]}).status_code == 302
    assert set(get_group_perms(group, worklist)) == {"view_studies"}
    [granted] = changes()
    assert granted.details["group"] == "Night shift"
    assert granted.details["added"] == ["view_studies"]
    assert "user" not in granted.details


def test_a_refused_form_changes_and_records_nothing(client, administrator, worklist):
    user = UserFactory(username="erin")
    url = reverse("admin:worklists_worklist_permissions_manage_user", args=[worklist.pk, user.pk])
    response = client.post(url, {"permissions": ["no_such_permission"]})
    assert response.status_code == 200  # the form again, with its error
    assert list(get_user_perms(user, worklist)) == []
    assert changes() == []
