"""People invited from outside any organisation view what was shared with them, nothing more,
until an administrator attaches them to an organisation."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.test import TestCase
from django.urls import reverse

from audit.models import AuditEvent
from guestlinks.models import GuestLink
from sharing.models import Share
from sharing.services import ShareTarget, study_share
from tests.adminforms import admin_form_data
from tests.factories import UserFactory, add_to_worklist
from tests.sharing.conftest import open_invitation
from worklists.models import Membership
from worklists.selectors import worklist_permissions
from worklists.services import INVITED_ROLE_NAME, OWNER_ROLE_NAME

pytestmark = pytest.mark.django_db

STRONG = "Tulip-orbit-9-lantern"
GUEST_LINK_FORM = {"gl-expires": "7d", "gl-max_password_attempts": "5"}


def share_url(worklist, study):
    return f"{reverse('sharing:share', args=[worklist.public_id])}?study={study.public_id}"


def guest_link_url(worklist, study):
    return reverse("guestlinks:create", args=[worklist.public_id, study.public_id])


@pytest.fixture
def invited(client, owner, worklist, study):
    """Someone invited by email who registered from the link; `client` is logged in as them."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        study_share(
            actor=owner,
            study=study,
            source_worklist=worklist,
            targets=[ShareTarget("email", "new.doc@clinic.example")],
        )
    path = re.search(r"https?://[^/\s]+(/sharing/invite/[^\s]+/)", mail.outbox[-1].body).group(1)
    data = {"first_name": "Nia", "last_name": "Okafor", "password1": STRONG, "password2": STRONG}
    assert client.post(open_invitation(client, path), data).status_code == 302
    return get_user_model().objects.get(email="new.doc@clinic.example")


def test_invited_user_views_the_shared_study_but_may_not_share_it_or_make_guest_links(
    client, invited, study
):
    personal = invited.personal_worklist
    assert invited.organisation is None
    assert Membership.objects.get(user=invited, worklist=personal).role.name == INVITED_ROLE_NAME
    assert worklist_permissions(invited, personal) == {"view_studies"}

    listing = client.get(reverse("worklists:detail", args=[personal.public_id]))
    assert listing.status_code == 200 and study.patient_id in listing.content.decode()
    study_page = (
        f"{reverse('studies:detail', args=[study.public_id])}?worklist={personal.public_id}"
    )
    assert client.get(study_page).status_code == 200

    assert client.get(share_url(personal, study)).status_code == 403
    response = client.post(
        reverse("sharing:share", args=[personal.public_id]),
        {"study": [str(study.public_id)], "emails": "someone@else.example"},
    )
    assert response.status_code == 403
    assert client.post(guest_link_url(personal, study), GUEST_LINK_FORM).status_code == 403
    assert not GuestLink.objects.exists()
    assert not Share.objects.filter(shared_by=invited).exists()


def test_organisation_users_keep_every_right_on_their_own_personal_worklist(login, owner, study):
    personal = owner.personal_worklist
    assert Membership.objects.get(user=owner, worklist=personal).role.name == OWNER_ROLE_NAME
    add_to_worklist(study, personal)
    client = login(owner)
    assert client.get(share_url(personal, study)).status_code == 200
    response = client.post(guest_link_url(personal, study), GUEST_LINK_FORM)
    assert response.status_code == 302 and GuestLink.objects.filter(worklist=personal).exists()


@pytest.fixture
def admin_client(client, invited):
    """Logged in as an administrator (after `invited` registered on the same client)."""
    client.force_login(UserFactory(username="admin", is_staff=True, is_superuser=True))
    return client


def admin_change(admin_client, user, **changes):
    """Save the user's admin change form with `changes`, as an administrator would."""
    url = reverse("admin:accounts_user_change", args=[user.pk])
    data = admin_form_data(admin_client.get(url))
    data.update(changes)
    response = admin_client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    return response


def test_attaching_an_invited_user_to_an_organisation_in_the_admin_gives_the_full_role(
    admin_client, invited, organisation, study
):
    personal = invited.personal_worklist
    admin_change(admin_client, invited, organisation=organisation.pk)
    invited = get_user_model().objects.get(pk=invited.pk)
    assert invited.organisation == organisation
    personal.refresh_from_db()
    assert personal.organisation == organisation
    assert Membership.objects.get(user=invited, worklist=personal).role.name == OWNER_ROLE_NAME
    assert "create_guest_links" in worklist_permissions(invited, personal)
    assert AuditEvent.objects.filter(
        action="membership_changed", details__role=OWNER_ROLE_NAME
    ).exists()

    admin_client.force_login(invited)
    assert admin_client.get(share_url(personal, study)).status_code == 200
    response = admin_client.post(guest_link_url(personal, study), GUEST_LINK_FORM)
    assert response.status_code == 302


def test_saving_a_user_without_changing_the_organisation_leaves_their_role_alone(
    admin_client, invited
):
    admin_change(admin_client, invited, first_name="Nadia")
    personal = invited.personal_worklist
    assert Membership.objects.get(user=invited, worklist=personal).role.name == INVITED_ROLE_NAME
