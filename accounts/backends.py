"""Authentication backend: Django's ModelBackend, loading a signed-in user in one fixed query.

Every request of a signed-in user (and each image the viewer loads is one) loads the user, and
OrganisationTimezoneMiddleware then needs the user's organisation for its time zone. The stock
backend spends two ORM queries on that. This one reads the user and the organisation in one
join, with SQL built once per process: building an ORM query costs several times more than
running it, and this runs on every request. The values go through the same database converters
as the ORM's, and a test compares every field with an ORM-loaded user. Those converters are
Django internals: README "Upgrade notes", tests/test_django_internals.py, `bench/loading.py`.

Nothing is cached across requests: a deactivated user, a changed password (the session hash) or
a changed organisation time zone apply from the user's next request.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import ValidationError
from django.db import connections, router
from django.db.models import Field, Model


def _converters(field: Field, connection: Any) -> list:
    column = field.get_col(field.model._meta.db_table)
    return [
        (converter, column)
        for converter in connection.ops.get_db_converters(column)
        + field.get_db_converters(connection)
    ]


class _ModelPlan(NamedTuple):
    model: type[Model]
    names: list[str]  # attribute names, in column order
    converters: list[list[tuple[Any, Any]]]  # per column: (converter, column expression)


def _model_plan(model: type[Model], connection: Any) -> _ModelPlan:
    fields = list(model._meta.concrete_fields)
    return _ModelPlan(
        model, [f.attname for f in fields], [_converters(f, connection) for f in fields]
    )


@functools.cache
def _plan(alias: str) -> tuple[str, _ModelPlan, _ModelPlan]:
    """The SQL, and for the user and the organisation how to build them from its columns."""
    connection = connections[alias]
    quote = connection.ops.quote_name
    user_model = get_user_model()
    link = user_model._meta.get_field("organisation")
    organisation_model: type[Model] = link.related_model  # type: ignore[assignment]
    user_plan = _model_plan(user_model, connection)
    organisation_plan = _model_plan(organisation_model, connection)
    columns = [
        f"{table}.{quote(str(field.column))}"
        for model, table in ((user_model, "u"), (organisation_model, "o"))
        for field in model._meta.concrete_fields
    ]
    user_table, organisation_table = user_model._meta.db_table, organisation_model._meta.db_table
    sql = (
        f"SELECT {', '.join(columns)} FROM {quote(user_table)} u "  # noqa: S608 (names from the models)
        f"LEFT JOIN {quote(organisation_table)} o "
        f"ON o.{quote(str(organisation_model._meta.pk.column))} = u.{quote(str(link.column))} "  # type: ignore[union-attr]
        f"WHERE u.{quote(str(user_model._meta.pk.column))} = %s"  # type: ignore[union-attr]
    )
    return sql, user_plan, organisation_plan


def _instance(alias: str, plan: _ModelPlan, values: Any, connection: Any) -> Model:
    converted = []
    for value, steps in zip(values, plan.converters, strict=True):
        for converter, column in steps:
            value = converter(value, column, connection)
        converted.append(value)
    return plan.model.from_db(alias, plan.names, converted)


def user_with_organisation(user_id: Any) -> Any:
    """The user with that primary key and its organisation (None if none), in one query."""
    user_model = get_user_model()
    try:
        user_id = user_model._meta.pk.to_python(user_id)
    except ValidationError:  # a malformed id in a session: no such user
        return None
    alias = router.db_for_read(user_model)
    connection = connections[alias]
    sql, user_plan, organisation_plan = _plan(alias)
    with connection.cursor() as cursor:
        cursor.execute(sql, [user_id])
        row = cursor.fetchone()
    if row is None:
        return None
    split = len(user_plan.names)
    user = _instance(alias, user_plan, row[:split], connection)
    organisation = None
    if row[split] is not None:  # the organisation's primary key: None when there is none
        organisation = _instance(alias, organisation_plan, row[split:], connection)
    user_model._meta.get_field("organisation").set_cached_value(user, organisation)
    return user


class UserBackend(ModelBackend):
    def get_user(self, user_id):  # type: ignore[no-untyped-def]
        user = user_with_organisation(user_id)
        return user if user is not None and self.user_can_authenticate(user) else None

    async def aget_user(self, user_id):  # type: ignore[no-untyped-def]
        model = get_user_model()
        try:
            user = await model._default_manager.select_related("organisation").aget(pk=user_id)
        except model.DoesNotExist:
            return None
        return user if self.user_can_authenticate(user) else None
