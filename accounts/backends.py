"""Authentication backend: Django's ModelBackend, loading a signed-in user in one fixed query.

Every request of a signed-in user (and each image the viewer loads is one) loads the user, and
OrganisationTimezoneMiddleware then needs the user's organisation for its time zone. The stock
backend spends two ORM queries on that. This one reads the user and the organisation in one
join, with SQL built once per process: building an ORM query costs several times more than
running it, and this runs on every request. The values go through the same database converters
as the ORM's, and a test compares every field with an ORM-loaded user.

Nothing is cached across requests: a deactivated user, a changed password (the session hash) or
a changed organisation time zone apply from the user's next request.
"""

from __future__ import annotations

import functools
from typing import Any

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


@functools.cache
def _plan(alias: str) -> tuple[str, list, list]:
    """The SQL, and for each model the attribute names and converters of its columns."""
    connection = connections[alias]
    quote = connection.ops.quote_name
    user_model = get_user_model()
    organisation_model = user_model._meta.get_field("organisation").related_model
    plans = []
    columns = []
    for model, table_alias in ((user_model, "u"), (organisation_model, "o")):
        fields = list(model._meta.concrete_fields)
        columns += [f"{table_alias}.{quote(field.column)}" for field in fields]
        plans.append(
            (model, [f.attname for f in fields], [_converters(f, connection) for f in fields])
        )
    sql = (
        f"SELECT {', '.join(columns)} FROM {quote(user_model._meta.db_table)} u "  # noqa: S608 (names from the models)
        f"LEFT JOIN {quote(organisation_model._meta.db_table)} o "
        f"ON o.{quote(organisation_model._meta.pk.column)} = u.{quote('organisation_id')} "
        f"WHERE u.{quote(user_model._meta.pk.column)} = %s"
    )
    return sql, plans[0], plans[1]


def _instance(alias: str, plan: tuple, values: tuple, connection: Any) -> Model:
    model, names, converters = plan
    converted = []
    for value, steps in zip(values, converters, strict=True):
        for converter, column in steps:
            value = converter(value, column, connection)
        converted.append(value)
    return model.from_db(alias, names, converted)


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
    split = len(user_plan[1])
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
