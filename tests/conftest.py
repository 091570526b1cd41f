"""Shared fixtures: an owner, a member, a read-only member, an outsider and a guest."""

import pytest
from django.db.backends.signals import connection_created
from django.dispatch import receiver

from tests.factories import (
    OrganisationFactory,
    StudyFactory,
    UserFactory,
    WorklistFactory,
    add_to_worklist,
    grant,
)
from tests.logleaks import log_leak_guard  # noqa: F401 (the whole run's log, searched for secrets)

MEMBER_PERMISSIONS = ("view_studies", "upload_studies", "share_study", "share_with_users")


@receiver(connection_created)
def _tests_may_empty_the_audit_trail(sender, connection, **kwargs):  # type: ignore[no-untyped-def]
    """Between transactional tests Django empties every table (TRUNCATE on PostgreSQL), which
    the audit trail's trigger refuses unless maintenance is on (audit migration 0005). The
    tests' own connections turn it on; tests/audit/test_append_only_postgres.py turns it off
    again to see the trigger refuse."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET cimar.audit_maintenance = 'on'")


@pytest.fixture(autouse=True)
def _isolated_media_and_outbox(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.CELERY_TASK_ALWAYS_EAGER = True
    # A failure seen by an earlier test must not hold this one's deliveries back.
    from notifications import queueing, services

    queueing.resume()
    services.inline_delivery_resume()


@pytest.fixture
def organisation(db):
    return OrganisationFactory(name="St Elsewhere")


@pytest.fixture
def worklist(organisation):
    return WorklistFactory(organisation=organisation, name="Radiology", kind="location")


@pytest.fixture
def owner(worklist):
    """Holds every product permission on `worklist`."""
    user = UserFactory(username="owner", organisation=worklist.organisation)
    grant(user, worklist)
    return user


@pytest.fixture
def member(worklist):
    user = UserFactory(username="member", organisation=worklist.organisation)
    grant(user, worklist, *MEMBER_PERMISSIONS)
    return user


@pytest.fixture
def read_only(worklist):
    """May view and search the worklist, nothing more."""
    user = UserFactory(username="readonly", organisation=worklist.organisation)
    grant(user, worklist, "view_studies")
    return user


@pytest.fixture
def outsider(db):
    """A user of another organisation with no membership of `worklist`."""
    return UserFactory(
        username="outsider", organisation=OrganisationFactory(name="Elsewhere Clinic")
    )


@pytest.fixture
def study(worklist):
    study = StudyFactory()
    add_to_worklist(study, worklist)
    return study


@pytest.fixture
def login(client):
    def _login(user):
        client.force_login(user)
        return client

    return _login
