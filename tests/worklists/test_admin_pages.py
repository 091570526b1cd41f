"""Django admin pages an administrator configures roles and people on."""

import re

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from tests.adminforms import admin_form_data
from tests.factories import UserFactory, WorklistFactory, role_with
from worklists.models import PRODUCT_PERMISSIONS, Membership
from worklists.selectors import user_has_worklist_perm

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, db):
    client.force_login(UserFactory(username="root", is_superuser=True, is_staff=True))
    return client


def test_the_role_permission_chooser_shows_the_product_names_as_checkboxes(admin_client):
    response = admin_client.get(reverse("admin:worklists_role_add"))
    field = response.context["adminform"].form.fields["permissions"]
    labels = [label for _, label in field.choices]
    assert labels == [name for _, name in PRODUCT_PERMISSIONS]
    body = response.content.decode()
    assert "Worklists and roles |" not in body
    assert 'type="checkbox" name="permissions"' in body
    assert "Studies: share study via email" in body


def test_the_user_page_shows_memberships_not_role_groups(admin_client, worklist, read_only):
    support = Group.objects.create(name="Support desk")
    url = reverse("admin:accounts_user_change", args=[read_only.pk])
    response = admin_client.get(url)
    body = response.content.decode()
    assert not re.search(r"worklist [0-9a-f-]{36} role \d+", body)
    groups = response.context["adminform"].form.fields["groups"]
    assert list(groups.queryset) == [support]
    # Memberships inline: each worklist with its role.
    [inline] = response.context["inline_admin_formsets"]
    shown = {(form.instance.worklist.name, form.instance.role.name) for form in inline.formset}
    assert ("Radiology", Membership.objects.get(worklist=worklist, user=read_only).role.name) in (
        shown
    )

    # Saving the page keeps the role groups it does not show, and adds a membership inline.
    cardiology = WorklistFactory(organisation=worklist.organisation, name="Cardiology")
    role = role_with("view_studies", "share_study", name="Sharer")
    data = admin_form_data(response)
    data["groups"] = [str(support.pk)]
    prefix = inline.formset.prefix
    new = int(data[f"{prefix}-TOTAL_FORMS"])
    data[f"{prefix}-TOTAL_FORMS"] = str(new + 1)
    data[f"{prefix}-{new}-worklist"] = str(cardiology.pk)
    data[f"{prefix}-{new}-role"] = str(role.pk)
    data[f"{prefix}-{new}-user"] = str(read_only.pk)
    response = admin_client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    read_only.refresh_from_db()
    assert support in read_only.groups.all()
    assert user_has_worklist_perm(read_only, "view_studies", worklist)
    assert user_has_worklist_perm(read_only, "share_study", cardiology)
    assert not user_has_worklist_perm(read_only, "share_study", worklist)
