"""Who may do what on a worklist: the one answer, and every form of asking it.

The rule: a signed-in, active user holds permission P on worklist W when django-guardian holds
the object permission P on W for the user directly, or for a group the user is in (each role on
a worklist is such a group and a membership puts the user in it, see `services`; an
administrator may also grant either kind per object in Django admin). Superuser status and
global (model-level) permissions never count, so a global grant never exposes every worklist.
A user "sees" a worklist when they hold any permission on it: one they do not see is a 404, one
they see without the permission needed is a 403.

The questions, all answered from `_grants` below:
- may U do P on W: `has_worklist_perm(user, perm, worklist)`, and every codename at once,
  cached on the user object (one request): `worklist_permissions(user, worklist)`;
- which worklists may U do P on: `worklists_for_user(user, perm)`, a queryset to filter further;
- which users may do P on W: `users_with_worklist_perm(perm, worklist)`;
- fetch and authorise: `get_worklist_for_user(user, public_id, need=...)`;
- the frame path's fast form, plain SQL to embed in one statement:
  `worklist_perm_sql(column)` with `worklist_perm_params(user, perm)`.
  `tests/worklists/test_access.py` holds it equal to the others over a matrix of users, roles,
  direct grants, inactive users and worklists.

Nothing outside this module reads guardian's tables, Membership or RoleGroup to decide access.
"""

import functools
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied
from django.db.models import CharField, Q, QuerySet
from django.db.models.functions import Cast
from django.http import Http404
from guardian.models import GroupObjectPermission, UserObjectPermission

from .models import Worklist

# Where `worklist_permissions` keeps its answers: on the user object, which lives for one
# request, so a change applies on the user's next request.
_CACHE_ATTR = "_worklist_perm_cache"


def _signed_in(user: Any) -> bool:
    return bool(getattr(user, "is_authenticated", False) and user.is_active)


def _grants(
    perm: str | None = None,
) -> tuple[QuerySet[GroupObjectPermission], QuerySet[UserObjectPermission]]:
    """guardian's rows granting `perm` (or any permission) on worklists: to groups, to users."""
    content_type = ContentType.objects.get_for_model(Worklist)
    rows: dict[str, Any] = {"content_type": content_type, "permission__content_type": content_type}
    if perm is not None:
        rows["permission__codename"] = perm
    return GroupObjectPermission.objects.filter(**rows), UserObjectPermission.objects.filter(**rows)


def worklist_permissions(user: Any, worklist: Worklist) -> set[str]:
    """The permission codenames `user` holds on `worklist`: one query, then cached on the user
    object for the rest of the request. Empty: the user does not see the worklist."""
    if not _signed_in(user):
        return set()
    cache = getattr(user, _CACHE_ATTR, None)
    if cache is None:
        cache = {}
        setattr(user, _CACHE_ATTR, cache)
    if worklist.pk not in cache:
        to_groups, to_user = _grants()
        object_pk = str(worklist.pk)
        codenames = (
            to_groups.filter(group__user=user, object_pk=object_pk)
            .values_list("permission__codename", flat=True)
            .union(
                to_user.filter(user=user, object_pk=object_pk).values_list(
                    "permission__codename", flat=True
                )
            )
        )
        cache[worklist.pk] = set(codenames)
    return cache[worklist.pk]


def has_worklist_perm(user: Any, perm: str, worklist: Worklist) -> bool:
    """May `user` do `perm` (a codename, e.g. "share_study") on `worklist`."""
    return perm in worklist_permissions(user, worklist)


def worklists_for_user(user: Any, perm: str | None) -> QuerySet[Worklist]:
    """Worklists on which `user` holds `perm` (e.g. "view_studies"); with None, those on which
    they hold any permission (the worklists they see at all)."""
    if not _signed_in(user):
        return Worklist.objects.none()
    to_groups, to_user = _grants(perm)
    # guardian stores object ids as text: compare the worklist's id as text, as guardian's own
    # get_objects_for_user does (casting object_pk to a number could fail on other types' rows).
    return Worklist.objects.alias(pk_text=Cast("pk", CharField())).filter(
        Q(pk_text__in=to_groups.filter(group__user=user).values("object_pk"))
        | Q(pk_text__in=to_user.filter(user=user).values("object_pk"))
    )


def users_with_worklist_perm(perm: str, worklist: Worklist) -> QuerySet[Any]:
    """Active users who hold `perm` on `worklist` (through a role or a direct grant)."""
    to_groups, to_user = _grants(perm)
    object_pk = str(worklist.pk)
    return (
        get_user_model()
        .objects.filter(is_active=True)
        .filter(
            Q(pk__in=to_groups.filter(object_pk=object_pk).values("group__user"))
            | Q(pk__in=to_user.filter(object_pk=object_pk).values("user"))
        )
    )


def get_worklist_for_user(user: Any, public_id: Any, need: str = "view_studies") -> Worklist:
    """A worklist the user sees (else 404), on which they hold `need` (else 403)."""
    worklist = Worklist.objects.select_related("organisation").filter(public_id=public_id).first()
    if worklist is None:
        raise Http404("No such worklist.")
    permissions = worklist_permissions(user, worklist)
    if not permissions:
        raise Http404("No such worklist.")
    if need not in permissions:
        raise PermissionDenied("Your role on this worklist does not allow that.")
    return worklist


# --- The fast form, for the frame path ------------------------------------------------------


@functools.lru_cache(maxsize=8)
def worklist_perm_sql(column: str) -> str:
    """An SQL condition: the worklist whose id is in `column` (e.g. "e.worklist_id") is one on
    which the user holds the permission; its parameters are `worklist_perm_params(user, perm)`.

    For a hot path that runs one fixed statement (the frame request: building the equivalent
    ORM query costs more than running it). The same rule as `_grants`: group and direct object
    permissions of guardian, with the permission's and the object's content type both the
    worklist's. Only table names from the models' metadata and the caller's column are formatted
    in; values are parameters.
    """
    tables = {
        "group_perm": GroupObjectPermission._meta.db_table,
        "user_perm": UserObjectPermission._meta.db_table,
        "user_groups": get_user_model().groups.through._meta.db_table,
        "permission": Permission._meta.db_table,
        "content_type": ContentType._meta.db_table,
    }
    return _PERM_SQL.format(column=column, **tables)


_PERM_SQL = """CAST({column} AS VARCHAR(255)) IN (
      SELECT g.object_pk FROM {group_perm} g
        JOIN {user_groups} ug ON ug.group_id = g.group_id
        JOIN {permission} p ON p.id = g.permission_id
        JOIN {content_type} ct ON ct.id = p.content_type_id AND ct.id = g.content_type_id
        WHERE ug.user_id = %s AND p.codename = %s AND ct.app_label = %s AND ct.model = %s
      UNION
      SELECT u.object_pk FROM {user_perm} u
        JOIN {permission} p ON p.id = u.permission_id
        JOIN {content_type} ct ON ct.id = p.content_type_id AND ct.id = u.content_type_id
        WHERE u.user_id = %s AND p.codename = %s AND ct.app_label = %s AND ct.model = %s)"""


def worklist_perm_params(user: Any, perm: str) -> list[object]:
    """The parameters of `worklist_perm_sql`. For anyone not signed in, or inactive, the user
    id is NULL, which matches no row: the condition is false."""
    meta = Worklist._meta
    user_id = user.pk if _signed_in(user) else None
    return [user_id, perm, meta.app_label, meta.model_name] * 2
