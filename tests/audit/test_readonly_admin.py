"""Every read-only admin (one mixin, audit.admin.ReadOnlyAdminMixin): a superuser sees the records
and cannot add, change or delete them, through the admin's own pages."""

import pytest
from django.contrib import admin
from django.urls import reverse

from audit.admin import ReadOnlyAdminMixin
from audit.models import AuditEvent
from guestlinks.models import GuestLink, GuestLinkAccess
from sharing.models import Invitation, Share
from studies.models import Study
from tests.factories import StudyFactory, UserFactory

READ_ONLY = [AuditEvent, GuestLink, GuestLinkAccess, Study, Share, Invitation]
DELETABLE = {Share, Invitation}  # as they always were: the sharing admin keeps delete


@pytest.fixture
def superuser(db):
    return UserFactory(is_staff=True, is_superuser=True)


@pytest.fixture
def superuser_client(client, superuser):
    client.force_login(superuser)
    return client


def url(model, view, *args):
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


@pytest.mark.parametrize("model", READ_ONLY, ids=lambda m: m.__name__)
def test_read_only_admins_list_but_never_add(superuser_client, superuser, rf, model):
    model_admin = admin.site.get_model_admin(model)
    assert isinstance(model_admin, ReadOnlyAdminMixin)
    assert superuser_client.get(url(model, "changelist")).status_code == 200
    assert superuser_client.get(url(model, "add")).status_code == 403
    assert superuser_client.post(url(model, "add"), {}).status_code == 403
    request = rf.get("/admin/")
    request.user = superuser
    assert model_admin.has_change_permission(request) is False
    assert model_admin.has_delete_permission(request) is (model in DELETABLE)


def test_a_study_is_shown_but_not_changed_or_deleted(superuser_client):
    study = StudyFactory(patient_name="Before^Admin")
    change = superuser_client.get(url(Study, "change", study.pk))
    assert change.status_code == 200
    page = change.content.decode()
    assert "Before^Admin" in page and 'name="_save"' not in page  # a view-only page
    # inlines (series, worklist entries) are view-only too: no add row, no delete box
    assert "add-row" not in page and "-DELETE" not in page
    posted = superuser_client.post(url(Study, "change", study.pk), {"patient_name": "After"})
    assert posted.status_code == 403
    assert superuser_client.post(url(Study, "delete", study.pk), {"post": "yes"}).status_code == 403
    study.refresh_from_db()
    assert study.patient_name == "Before^Admin"
