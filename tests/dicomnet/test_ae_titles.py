"""Worklist AE titles (shown on the worklist page, edited in admin) and remote nodes."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from dicomnet.models import RemoteNode
from dicomnet.services import remote_node_create
from tests.adminforms import admin_form_data
from tests.factories import UserFactory, WorklistFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, db):
    client.force_login(UserFactory(username="root", is_superuser=True, is_staff=True))
    return client


def test_every_worklist_has_its_own_ae_title_shown_beside_the_share_code(
    login, read_only, worklist
):
    other = WorklistFactory()
    assert worklist.ae_title and other.ae_title and worklist.ae_title != other.ae_title
    response = login(read_only).get(reverse("worklists:detail", args=[worklist.public_id]))
    body = response.content.decode()
    assert f'<code class="ae-title">{worklist.ae_title}</code>' in body
    assert body.index(worklist.share_code_display) < body.index(worklist.ae_title)


def test_an_administrator_edits_the_ae_title_and_a_taken_or_bad_one_is_refused(
    admin_client, worklist
):
    taken = WorklistFactory().ae_title
    url = reverse("admin:worklists_worklist_change", args=[worklist.pk])
    data = admin_form_data(admin_client.get(url))
    for bad in (taken, "BAD\\AE", "SEVENTEEN_LETTERS"):
        response = admin_client.post(url, {**data, "ae_title": bad})
        assert response.status_code == 200
        assert response.context["adminform"].form.errors["ae_title"]
    response = admin_client.post(url, {**data, "ae_title": "RADIOLOGY"})
    assert response.status_code == 302
    worklist.refresh_from_db()
    assert worklist.ae_title == "RADIOLOGY"


def test_remote_node_create_validates_and_an_ae_and_host_name_one_node(organisation):
    node = remote_node_create(
        organisation=organisation, name="PACS", ae_title="MAIN_PACS", host="10.0.0.5", port=104
    )
    assert RemoteNode.objects.get() == node
    for bad in ("not a host!", "a..b", "-pacs", "x" * 300):
        with pytest.raises(ValidationError):
            remote_node_create(
                organisation=organisation, name="Bad", ae_title="X", host=bad, port=1
            )
    remote_node_create(organisation=organisation, name="v6", ae_title="X", host="::1", port=104)
    with pytest.raises(ValidationError):
        remote_node_create(
            organisation=organisation, name="Port", ae_title="X", host="pacs", port=70000
        )
    with pytest.raises(ValidationError):
        remote_node_create(
            organisation=organisation, name="Again", ae_title="MAIN_PACS", host="10.0.0.5", port=1
        )
    assert RemoteNode.objects.count() == 2


def test_remote_nodes_are_managed_in_admin(admin_client, organisation):
    response = admin_client.post(
        reverse("admin:dicomnet_remotenode_add"),
        {
            "organisation": organisation.pk,
            "name": "CT scanner",
            "ae_title": "CT1",
            "host": "ct1.hospital.example",
            "port": "104",
        },
    )
    assert response.status_code == 302
    assert RemoteNode.objects.get().host == "ct1.hospital.example"
