"""The clinician's side: the worklist's "Upload links" page, create, edit, delete."""

import pytest
from django.urls import reverse

from tests.factories import UserFactory, grant
from uploadlinks import services
from uploadlinks.models import UploadLink

pytestmark = pytest.mark.django_db


def manage_url(worklist):
    return reverse("uploadlinks:manage", args=[worklist.public_id])


def test_the_worklist_page_leads_managers_to_upload_links(login, owner, worklist):
    page = login(owner).get(reverse("worklists:detail", args=[worklist.public_id]))
    assert manage_url(worklist) in page.content.decode()


def test_the_page_lists_links_with_state_uploads_and_last_upload(login, owner, worklist):
    from tests.uploadlinks.conftest import series_files, upload

    link = services.uploadlink_create(actor=owner, worklist=worklist, label="GP", max_uses=3)
    upload(link, series_files(1))
    services.uploadlink_create(actor=owner, worklist=worklist, label="Other")
    page = login(owner).get(manage_url(worklist)).content.decode()
    assert "GP" in page and "Other" in page and "1 of 3" in page and "none yet" in page
    assert link.get_absolute_url() in page
    assert page.count("Active") == 2


def test_create_through_the_form(login, owner, worklist):
    client = login(owner)
    response = client.post(
        manage_url(worklist),
        {
            "label": "Referral",
            "expires_in": "14d",
            "max_uses": "2",
            "password": "harbour-99",
            "max_password_attempts": "5",
            "email": "gp@example.org",
            "message": "Please upload the CD",
            "notify_on_upload": "on",
        },
    )
    assert response.status_code == 302
    link = UploadLink.objects.get()
    assert (link.label, link.max_uses, link.has_password) == ("Referral", 2, True)
    assert link.notify_on_upload and link.created_by == owner


def test_form_errors_are_shown_next_to_the_field(login, owner, worklist):
    response = login(owner).post(
        manage_url(worklist),
        {"expires_in": "7d", "max_password_attempts": "5", "password": "abc"},
    )
    assert response.status_code == 400
    assert "6 to 128 characters" in response.content.decode()
    assert not UploadLink.objects.exists()


def test_edit_extends_disables_and_re_enables(login, owner, worklist):
    link = services.uploadlink_create(actor=owner, worklist=worklist, max_uses=1)
    client = login(owner)
    url = reverse("uploadlinks:edit", args=[link.public_id])
    assert client.get(url).status_code == 200
    form = {"expires_in": "30d", "max_uses": "4", "max_password_attempts": "5", "disabled": "on"}
    assert client.post(url, form).status_code == 302
    link.refresh_from_db()
    assert link.max_uses == 4 and link.state == "disabled"
    assert "Disabled" in client.get(manage_url(worklist)).content.decode()
    form.pop("disabled")
    assert client.post(url, form).status_code == 302
    link.refresh_from_db()
    assert link.is_usable


def test_edit_refuses_fewer_uses_than_taken(login, owner, worklist):
    link = services.uploadlink_create(actor=owner, worklist=worklist, max_uses=5)
    UploadLink.objects.filter(pk=link.pk).update(use_count=3)
    response = login(owner).post(
        reverse("uploadlinks:edit", args=[link.public_id]),
        {"max_uses": "2", "max_password_attempts": "5"},
    )
    assert response.status_code == 400 and "already been used 3 times" in response.content.decode()


def test_delete_asks_for_confirmation_and_stops_the_link(login, owner, worklist, client):
    link = services.uploadlink_create(actor=owner, worklist=worklist)
    page = login(owner).get(manage_url(worklist)).content.decode()
    assert "data-confirm=" in page and "It stops working at once" in page
    response = client.post(reverse("uploadlinks:delete", args=[link.public_id]))
    assert response.status_code == 302
    link.refresh_from_db()
    assert link.state == "deleted"
    assert client.get(link.get_absolute_url()).status_code == 404


@pytest.mark.parametrize("name", ["manage", "edit", "delete"])
def test_methods_outsiders_and_view_only_members(login, owner, read_only, outsider, worklist, name):
    link = services.uploadlink_create(actor=owner, worklist=worklist)
    url = (
        manage_url(worklist)
        if name == "manage"
        else reverse(f"uploadlinks:{name}", args=[link.public_id])
    )
    client = login(owner)
    assert client.put(url).status_code == 405
    if name == "delete":
        assert client.get(url).status_code == 405
    client.logout()
    assert login(outsider).post(url).status_code == 404
    client.logout()
    viewer = login(read_only)
    assert viewer.post(url).status_code == 403
    page = viewer.get(reverse("worklists:detail", args=[worklist.public_id])).content.decode()
    assert manage_url(worklist) not in page
    link.refresh_from_db()
    assert link.state == "active"


def test_a_creator_who_left_the_worklist_may_still_delete_but_not_edit(worklist, login):
    creator = UserFactory(username="creator", organisation=worklist.organisation)
    grant(creator, worklist, "view_studies", "manage_upload_links")
    link = services.uploadlink_create(actor=creator, worklist=worklist)
    creator.groups.clear()  # no role on the worklist any more
    client = login(creator)
    assert client.post(reverse("uploadlinks:edit", args=[link.public_id])).status_code == 404
    assert client.post(reverse("uploadlinks:delete", args=[link.public_id])).status_code == 302
