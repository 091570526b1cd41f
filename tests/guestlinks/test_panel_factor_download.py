"""The panel's "Send a one-time code" and "Allow download" checkboxes: shown with their help,
passed to the service, and refused with a clear error next to the field."""

import pytest
from django.urls import reverse

from guestlinks.models import GuestLink
from tests.guestlinks.conftest import outbox

pytestmark = pytest.mark.django_db

FORM = {"gl-expires": "7d", "gl-max_password_attempts": "5"}


def create_url(worklist, study):
    return reverse("guestlinks:create", args=[worklist.public_id, study.public_id])


def study_page(study, worklist):
    return reverse("studies:detail", args=[study.public_id]) + f"?worklist={worklist.public_id}"


def test_the_panel_offers_both_options_with_help(login, owner, study, worklist):
    body = login(owner).get(study_page(study, worklist)).content.decode()
    assert 'name="gl-one_time_code"' in body and "Send a one-time code" in body
    assert "valid for 10 minutes" in body
    assert 'name="gl-allow_download"' in body and "Allow download" in body
    assert "imports like a CD" in body
    assert 'aria-describedby="id_gl-one_time_code_help"' in body


def test_both_options_reach_the_link(login, owner, study, worklist):
    data = {
        **FORM,
        "gl-password": "pass-word-1",
        "gl-email": "guest@example.net",
        "gl-one_time_code": "on",
        "gl-allow_download": "on",
    }
    assert login(owner).post(create_url(worklist, study), data).status_code == 302
    link = GuestLink.objects.get()
    assert link.one_time_code and link.allow_download


def test_without_them_the_link_has_neither(login, owner, study, worklist):
    login(owner).post(create_url(worklist, study), FORM)
    link = GuestLink.objects.get()
    assert not link.one_time_code and not link.allow_download


def test_a_code_without_a_recipient_is_refused_next_to_the_field(login, owner, study, worklist):
    response = login(owner).post(create_url(worklist, study), {**FORM, "gl-one_time_code": "on"})
    assert response.status_code == 400
    body = response.content.decode()
    assert "Add the recipient&#x27;s email or mobile: the code is sent there." in body
    assert 'id="id_gl-one_time_code_error"' in body
    assert not GuestLink.objects.exists() and outbox() == []


def test_the_list_says_which_links_have_them(login, owner, study, worklist, make_link):
    make_link(email="guest@example.net", one_time_code=True, allow_download=True)
    body = login(owner).get(study_page(study, worklist)).content.decode()
    assert "one-time code (0 wrong)" in body and "download allowed" in body
