"""How a signed-in request loads its session, user and organisation (accounts.sessions,
accounts.backends): fewer queries than Django's stock classes, the same answers, nothing kept
between requests."""

import datetime
import uuid

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from accounts.backends import UserBackend, user_with_organisation
from accounts.models import UserSession as Session
from accounts.sessions import SessionStore
from tests.factories import OrganisationFactory, UserFactory

pytestmark = pytest.mark.django_db


def fields(instance):  # type: ignore[no-untyped-def]
    return {f.attname: getattr(instance, f.attname) for f in instance._meta.concrete_fields}


def test_user_and_organisation_are_loaded_like_the_orm_in_one_query(django_assert_num_queries):
    organisation = OrganisationFactory(time_zone="Asia/Tokyo")
    user = UserFactory(organisation=organisation, is_staff=True, title="Dr")
    with django_assert_num_queries(1):
        loaded = UserBackend().get_user(str(user.pk))  # the session holds the id as text
        assert loaded.organisation.time_zone == "Asia/Tokyo"
    expected = get_user_model().objects.get(pk=user.pk)
    assert fields(loaded) == fields(expected)
    assert fields(loaded.organisation) == fields(expected.organisation)
    # Converted as the ORM converts them (UUIDs, aware datetimes, booleans), not raw column values.
    assert isinstance(loaded.public_id, uuid.UUID)
    assert isinstance(loaded.organisation.public_id, uuid.UUID)
    assert loaded.date_joined.tzinfo is not None and loaded.is_staff is True
    assert loaded.organisation.is_active is True
    assert loaded._state.db == "default" and not loaded._state.adding


def test_user_without_organisation(django_assert_num_queries):
    user = UserFactory(organisation=None)
    with django_assert_num_queries(1):
        loaded = UserBackend().get_user(user.pk)
        assert loaded == user and loaded.organisation is None


def test_unknown_inactive_or_malformed_users_are_not_loaded():
    inactive = UserFactory(is_active=False)
    backend = UserBackend()
    assert backend.get_user(inactive.pk) is None
    assert backend.get_user(10**9) is None
    assert backend.get_user("not-a-number") is None
    assert user_with_organisation(inactive.pk) == inactive  # the backend refuses it, not the loader


def test_session_store_reads_what_django_wrote_and_ignores_expired_sessions():
    store = SessionStore()
    store["answer"] = 42
    store.create()
    assert SessionStore(store.session_key).load() == {"answer": 42}
    Session.objects.filter(session_key=store.session_key).update(
        expire_date=timezone.now() - datetime.timedelta(seconds=1)
    )
    expired = SessionStore(store.session_key)
    assert expired.load() == {}
    assert expired.session_key is None  # a fresh key is issued if anything is saved
    assert SessionStore("no-such-session-key").load() == {}


@pytest.mark.urls("tests.accounts.zone_urls")
def test_time_zone_change_applies_on_the_next_request(client, django_assert_num_queries):
    organisation = OrganisationFactory(time_zone="Australia/Sydney")
    user = UserFactory(organisation=organisation)
    client.force_login(user)
    with django_assert_num_queries(2):  # the session; the user with the organisation
        assert client.get("/zone/").content.decode() == f"{user.username} Australia/Sydney"
    organisation.time_zone = "America/New_York"
    organisation.save()
    assert client.get("/zone/").content.decode() == f"{user.username} America/New_York"


@pytest.mark.urls("tests.accounts.zone_urls")
def test_sign_out_elsewhere_deactivation_and_password_change_apply_on_the_next_request(client):
    user = UserFactory(organisation=OrganisationFactory(time_zone="Europe/Paris"))
    client.force_login(user)
    assert client.get("/zone/").content.decode() == f"{user.username} Europe/Paris"
    user.set_password("another-Passw0rd!")  # changes the session hash
    user.save()
    assert client.get("/zone/").content.decode().startswith("- ")
    client.force_login(user)
    get_user_model().objects.filter(pk=user.pk).update(is_active=False)
    assert client.get("/zone/").content.decode().startswith("- ")
    get_user_model().objects.filter(pk=user.pk).update(is_active=True)
    client.force_login(user)
    assert client.get("/zone/").content.decode().startswith(user.username)
    Session.objects.all().delete()  # e.g. signed out in another process
    assert client.get("/zone/").content.decode().startswith("- ")


@pytest.mark.urls("tests.accounts.zone_urls")
def test_anonymous_requests_use_the_default_time_zone(client, settings):
    assert client.get("/zone/").content.decode() == f"- {settings.TIME_ZONE}"
