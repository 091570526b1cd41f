"""Every path that creates a user gives them a personal worklist (accounts.services.user_create,
finished by worklists through accounts.registry), with no post_save signal."""

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.urls import reverse

from accounts.models import Organisation
from worklists.models import Membership, Worklist
from worklists.services import OWNER_ROLE_NAME

pytestmark = pytest.mark.django_db


def personal(user):  # type: ignore[no-untyped-def]
    worklist = Worklist.objects.get(owner=user, kind=Worklist.Kind.PERSONAL)
    membership = Membership.objects.get(user=user, worklist=worklist)
    return worklist, membership.role.name


def test_create_user_gives_a_personal_worklist():
    organisation = Organisation.objects.create(name="North")
    user = get_user_model().objects.create_user("ada", password="x", organisation=organisation)
    worklist, role = personal(user)
    assert worklist.organisation == organisation and role == OWNER_ROLE_NAME


def test_createsuperuser_gives_a_personal_worklist(monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "a-long-password-1")
    call_command("createsuperuser", "--noinput", username="root", email="root@example.org")
    assert personal(get_user_model().objects.get(username="root"))


def test_a_user_saved_without_the_service_gets_none():
    """No signal does it behind the service's back."""
    user = get_user_model().objects.create(username="raw")
    assert not Worklist.objects.filter(owner=user).exists()


def test_admin_add_user_gives_a_personal_worklist(client):
    admin = get_user_model().objects.create_superuser("boss", "boss@example.org", "pw-123-long")
    client.force_login(admin)
    organisation = Organisation.objects.create(name="South")
    response = client.post(
        reverse("admin:accounts_user_add"),
        {
            "username": "newcomer",
            "password1": "a-long-password-1",
            "password2": "a-long-password-1",
            "usable_password": "true",
            "email": "newcomer@example.org",
            "first_name": "New",
            "last_name": "Comer",
            "organisation": organisation.pk,
            "title": "",
            "memberships-TOTAL_FORMS": "0",
            "memberships-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    worklist, role = personal(get_user_model().objects.get(username="newcomer"))
    assert worklist.organisation == organisation and role == OWNER_ROLE_NAME
