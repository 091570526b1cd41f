"""The database itself refuses to change or delete an audit event (PostgreSQL's trigger, audit
migration 0005): raw SQL, bulk ORM writes and TRUNCATE all fail; only the SET NULL that
deleting a user makes goes through, and an administrator's deliberate maintenance."""

import pytest
from django.db import DatabaseError, connection, transaction

from audit.models import AppendOnlyError, AuditEvent
from audit.services import record_event
from tests.factories import UserFactory

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the trigger is PostgreSQL's"),
]

TABLE = AuditEvent._meta.db_table


@pytest.fixture
def enforced():
    """As in production: this connection is not in maintenance (tests/conftest.py turns it on
    so that Django may empty the tables between transactional tests)."""
    with connection.cursor() as cursor:
        cursor.execute("SET cimar.audit_maintenance = 'off'")
    yield
    with connection.cursor() as cursor:
        cursor.execute("SET cimar.audit_maintenance = 'on'")


def refused(sql, params=()):
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(sql, params)


def test_raw_update_delete_and_truncate_are_refused(enforced):
    event = record_event(action=AuditEvent.Action.LOGIN, details={"username": "ada"})
    refused(f"UPDATE {TABLE} SET outcome = 'failure' WHERE id = %s", [event.pk])  # noqa: S608
    refused(f"UPDATE {TABLE} SET details = '{{}}'::jsonb")  # noqa: S608
    refused(f"DELETE FROM {TABLE} WHERE id = %s", [event.pk])  # noqa: S608
    with connection.cursor() as cursor:
        # The test's own insert left its deferred foreign-key check pending, which would make
        # PostgreSQL refuse the TRUNCATE for that reason instead of the trigger's.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    refused(f"TRUNCATE {TABLE}")
    row = AuditEvent.objects.values("outcome", "details").get(pk=event.pk)
    assert row == {"outcome": "success", "details": {"username": "ada"}}


def test_setting_an_actor_is_refused_clearing_it_with_anything_else_too(enforced):
    user = UserFactory(username="ada")
    event = record_event(action=AuditEvent.Action.LOGIN)
    refused(f"UPDATE {TABLE} SET actor_id = %s WHERE id = %s", [user.pk, event.pk])  # noqa: S608
    other = record_event(action=AuditEvent.Action.LOGIN, actor=user)
    refused(
        f"UPDATE {TABLE} SET actor_id = NULL, actor_label = 'x' WHERE id = %s",  # noqa: S608
        [other.pk],
    )


def test_the_orm_refuses_before_the_database_does(enforced):
    record_event(action=AuditEvent.Action.LOGIN)
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.update(outcome="failure")
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.all().delete()


def test_deleting_a_user_clears_the_actor_and_keeps_the_name(enforced):
    user = UserFactory(username="leaver")
    event = record_event(action=AuditEvent.Action.LOGIN, actor=user)
    user.delete()
    row = AuditEvent.objects.get(pk=event.pk)
    assert row.actor_id is None and row.actor_label == "leaver"


@pytest.mark.django_db(transaction=True)
def test_an_administrator_archives_in_maintenance():
    """README, "Audit trail": in one real transaction, SET LOCAL, then delete what was copied
    out; the setting ends with that transaction."""
    with connection.cursor() as cursor:
        cursor.execute("SET cimar.audit_maintenance = 'off'")
    try:
        old = record_event(action=AuditEvent.Action.LOGIN)
        kept = record_event(action=AuditEvent.Action.LOGIN)
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL cimar.audit_maintenance = 'on'")
            cursor.execute(f"DELETE FROM {TABLE} WHERE id = %s", [old.pk])  # noqa: S608
        assert not AuditEvent.objects.filter(pk=old.pk).exists()
        refused(f"DELETE FROM {TABLE} WHERE id = %s", [kept.pk])  # noqa: S608
        assert AuditEvent.objects.filter(pk=kept.pk).exists()
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET cimar.audit_maintenance = 'on'")
