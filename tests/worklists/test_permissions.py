"""Roles, memberships and guardian object permissions, and how fast changes take effect."""

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from accounts.models import User
from audit.models import AuditEvent
from tests.factories import UserFactory, WorklistFactory, role_with
from worklists import services
from worklists.models import Membership, Worklist
from worklists.selectors import user_has_worklist_perm, worklists_for_user

pytestmark = pytest.mark.django_db


def test_membership_grants_exactly_the_roles_permissions(worklist, read_only):
    assert user_has_worklist_perm(read_only, "view_studies", worklist)
    assert not user_has_worklist_perm(read_only, "share_study", worklist)
    # The same check through Django's own API, as DESIGN.md writes it.
    assert User.objects.get(pk=read_only.pk).has_perm("worklists.view_studies", worklist)
    assert not User.objects.get(pk=read_only.pk).has_perm("worklists.share_study", worklist)


def test_permissions_apply_only_within_that_worklist(worklist, read_only, organisation):
    other = WorklistFactory(organisation=organisation)
    assert not user_has_worklist_perm(read_only, "view_studies", other)
    assert list(worklists_for_user(read_only, "view_studies").exclude(kind="personal")) == [
        worklist
    ]


def test_global_permissions_and_superuser_do_not_expose_every_worklist(worklist):
    admin = UserFactory(is_superuser=True, is_staff=True)
    admin.user_permissions.add(Permission.objects.get(codename="view_studies"))
    visible = worklists_for_user(User.objects.get(pk=admin.pk), "view_studies")
    assert worklist not in visible
    assert not user_has_worklist_perm(admin, "view_studies", worklist)


def test_changing_a_roles_permissions_applies_on_the_next_request(worklist, read_only):
    role = Membership.objects.get(user=read_only, worklist=worklist).role
    role.permissions.add(Permission.objects.get(codename="share_study"))
    services.role_save(actor=None, role=role)
    assert user_has_worklist_perm(User.objects.get(pk=read_only.pk), "share_study", worklist)
    role.permissions.remove(Permission.objects.get(codename="view_studies"))
    services.role_save(actor=None, role=role)
    assert not user_has_worklist_perm(User.objects.get(pk=read_only.pk), "view_studies", worklist)


def test_changing_the_role_of_a_membership_replaces_the_old_permissions(worklist, read_only):
    services.membership_grant(
        actor=None, user=read_only, worklist=worklist, role=role_with("upload_studies")
    )
    fresh = User.objects.get(pk=read_only.pk)
    assert user_has_worklist_perm(fresh, "upload_studies", worklist)
    assert not user_has_worklist_perm(fresh, "view_studies", worklist)
    assert AuditEvent.objects.filter(action=AuditEvent.Action.MEMBERSHIP_CHANGED).exists()


def test_deleting_a_membership_removes_access(worklist, read_only):
    services.membership_delete(
        actor=None, membership=Membership.objects.get(user=read_only, worklist=worklist)
    )
    assert not user_has_worklist_perm(User.objects.get(pk=read_only.pk), "view_studies", worklist)


def test_every_user_gets_a_personal_worklist_with_every_permission(organisation):
    user = UserFactory(organisation=organisation)
    personal = Worklist.objects.get(owner=user)
    assert personal.kind == Worklist.Kind.PERSONAL
    assert user_has_worklist_perm(user, "share_study", personal)
    assert user_has_worklist_perm(user, "create_guest_links", personal)


@pytest.fixture
def admin_client_user(db):
    admin = UserFactory(username="root", is_superuser=True, is_staff=True)
    return admin


def test_admin_creates_a_role_and_a_membership_and_access_changes(
    client, admin_client_user, worklist, study
):
    clinician = UserFactory(username="newdoc", organisation=worklist.organisation)
    page_url = reverse("worklists:detail", args=[worklist.public_id])
    client.force_login(clinician)
    assert client.get(page_url).status_code == 404

    admin = client.__class__()
    admin.force_login(admin_client_user)
    view_studies = Permission.objects.get(codename="view_studies")
    response = admin.post(
        reverse("admin:worklists_role_add"),
        {"name": "Reader", "description": "", "permissions": [view_studies.pk]},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    role = __import__("worklists.models", fromlist=["Role"]).Role.objects.get(name="Reader")
    response = admin.post(
        reverse("admin:worklists_membership_add"),
        {"user": clinician.pk, "worklist": worklist.pk, "role": role.pk},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert client.get(page_url).status_code == 200

    # Take view_studies away from the role in the admin: the next request is refused.
    share = Permission.objects.get(codename="share_study")
    response = admin.post(
        reverse("admin:worklists_role_change", args=[role.pk]),
        {"name": "Reader", "description": "", "permissions": [share.pk]},
    )
    assert response.status_code == 302
    assert client.get(page_url).status_code == 403


def test_admin_role_picker_offers_only_product_permissions(client, admin_client_user):
    client.force_login(admin_client_user)
    body = client.get(reverse("admin:worklists_role_add")).content.decode()
    assert "Studies: view and search studies list" in body
    assert "Study links: create guest links" in body
    assert "Can add user" not in body


def test_admin_lists_have_search_and_filters(client, admin_client_user, worklist, read_only):
    client.force_login(admin_client_user)
    for name in (
        "worklists_worklist",
        "worklists_role",
        "worklists_membership",
        "accounts_user",
        "accounts_organisation",
        "audit_auditevent",
    ):
        response = client.get(reverse(f"admin:{name}_changelist"), {"q": "a"})
        assert response.status_code == 200, name


def test_admin_guardian_object_permissions_page(client, admin_client_user, worklist):
    client.force_login(admin_client_user)
    response = client.get(reverse("admin:worklists_worklist_permissions", args=[worklist.pk]))
    assert response.status_code == 200


def test_moving_a_membership_to_another_worklist_removes_the_old_access(
    worklist, read_only, organisation
):
    other = WorklistFactory(organisation=organisation)
    membership = Membership.objects.get(user=read_only, worklist=worklist)
    membership.worklist = other
    services.membership_save(actor=None, membership=membership)
    fresh = User.objects.get(pk=read_only.pk)
    assert not user_has_worklist_perm(fresh, "view_studies", worklist)
    assert user_has_worklist_perm(fresh, "view_studies", other)


def test_giving_a_membership_to_another_user_removes_the_old_users_access(worklist, read_only):
    newcomer = UserFactory(organisation=worklist.organisation)
    membership = Membership.objects.get(user=read_only, worklist=worklist)
    membership.user = newcomer
    services.membership_save(actor=None, membership=membership)
    assert not user_has_worklist_perm(User.objects.get(pk=read_only.pk), "view_studies", worklist)
    assert user_has_worklist_perm(User.objects.get(pk=newcomer.pk), "view_studies", worklist)


def test_admin_lists_studies_read_only(client, admin_client_user, study):
    client.force_login(admin_client_user)
    listing = client.get(reverse("admin:studies_study_changelist"), {"q": study.patient_id})
    assert listing.status_code == 200 and study.accession_number in listing.content.decode()
    page = client.get(reverse("admin:studies_study_change", args=[study.pk]))
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
    assert client.get(reverse("admin:studies_study_add")).status_code == 403
