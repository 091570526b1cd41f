"""Who is emailed when a study is shared into a worklist: everyone who may view its studies,
by the one access rule (`worklists.access`), including per-object grants made in Django admin."""

import pytest
from django.contrib.auth.models import Group, Permission
from django.core import mail
from django.test import TestCase
from django.urls import reverse

from sharing.services import Outcome, ShareTarget, study_share
from tests.factories import UserFactory, grant

pytestmark = pytest.mark.django_db


def share_to(actor, study, source, target):
    with TestCase.captureOnCommitCallbacks(execute=True):
        [outcome] = study_share(
            actor=actor,
            study=study,
            source_worklist=source,
            targets=[ShareTarget(channel="location", key=str(target.public_id))],
            message="",
        )
    assert outcome.status == Outcome.SHARED
    return sorted(address for message in mail.outbox for address in message.to)


@pytest.fixture
def admin_client(client, db):
    client.force_login(UserFactory(username="root", is_superuser=True, is_staff=True))
    return client


def test_a_user_granted_view_in_admin_is_emailed(admin_client, owner, worklist, study, cardiology):
    """A per-object grant made on the worklist's "Object permissions" page in Django admin
    lets the user see the worklist's studies, so they hear of a share like any member."""
    granted = UserFactory(
        username="granted", organisation=worklist.organisation, email="granted@example.org"
    )
    response = admin_client.post(
        reverse(
            "admin:worklists_worklist_permissions_manage_user", args=[cardiology.pk, granted.pk]
        ),
        {"permissions": ["view_studies"]},
    )
    assert response.status_code == 302
    assert share_to(owner, study, worklist, cardiology) == [
        "cardio@example.org",
        "granted@example.org",
    ]


def test_members_of_a_group_granted_view_in_admin_are_emailed(
    admin_client, owner, worklist, study, cardiology
):
    team = Group.objects.create(name="Cardiology reporting team")
    member = UserFactory(
        username="teammate", organisation=worklist.organisation, email="team@example.org"
    )
    member.groups.add(team)
    response = admin_client.post(
        reverse("admin:worklists_worklist_permissions_manage_group", args=[cardiology.pk, team.pk]),
        {"permissions": ["view_studies"]},
    )
    assert response.status_code == 302
    assert share_to(owner, study, worklist, cardiology) == [
        "cardio@example.org",
        "team@example.org",
    ]


def test_nobody_is_emailed_who_may_not_view_the_worklist(owner, worklist, study, cardiology):
    organisation = worklist.organisation
    uploader = UserFactory(username="up", organisation=organisation, email="up@example.org")
    grant(uploader, cardiology, "upload_studies")
    gone = UserFactory(username="gone", organisation=organisation, email="gone@example.org")
    grant(gone, cardiology, "view_studies")
    gone.is_active = False
    gone.save()
    root = UserFactory(username="root2", organisation=organisation, email="root@example.org")
    root.is_superuser = True
    root.save()
    everywhere = UserFactory(username="global", organisation=organisation, email="g@example.org")
    everywhere.user_permissions.add(Permission.objects.get(codename="view_studies"))
    assert share_to(owner, study, worklist, cardiology) == ["cardio@example.org"]
