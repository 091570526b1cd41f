"""Django admin pages an administrator configures roles and people on."""

import re

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from tests.factories import UserFactory, WorklistFactory, role_with
from worklists.models import PRODUCT_PERMISSIONS, Membership
from worklists.selectors import user_has_worklist_perm

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, db):
    client.force_login(UserFactory(username="root", is_superuser=True, is_staff=True))
    return client


def form_data(response) -> dict:
    """The change form's fields as the browser would post them back, inlines included."""
    data: dict = {}
    form = response.context["adminform"].form
    for name, field in form.fields.items():
        value = form[name].value()
        if value is None or field.disabled:
            continue
        widget = getattr(field.widget, "widget", field.widget)  # the admin's wrapper's own
        if hasattr(widget, "widgets"):  # split date and time
            for i, part in enumerate(widget.decompress(value)):
                data[f"{name}_{i}"] = widget.widgets[i].format_value(part)
        elif isinstance(value, list | tuple):
            data[name] = [str(v) for v in value]
        else:
            data[name] = value
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        for name in formset.management_form.fields:
            data[f"{formset.prefix}-{name}"] = formset.management_form[name].value()
        for subform in formset.forms:
            for name in subform.fields:
                value = subform[name].value()
                if value is not None:
                    data[subform.add_prefix(name)] = value
    return {key: value for key, value in data.items() if value is not False}


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
    data = form_data(response)
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
