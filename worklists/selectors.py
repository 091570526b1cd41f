"""Read paths for worklists: which worklists a user may act on."""

from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db.models import QuerySet
from guardian.models import GroupObjectPermission, UserObjectPermission
from guardian.shortcuts import get_objects_for_user

from .models import Worklist


def worklists_for_user(user: Any, perm: str) -> QuerySet[Worklist]:
    """Worklists on which `user` holds `perm` (e.g. "view_studies") through a role.

    The one wrapper around guardian's lookup: it ignores global permissions and superuser
    status, so a global grant never exposes every worklist.
    """
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return Worklist.objects.none()
    return get_objects_for_user(
        user,
        f"worklists.{perm}",
        klass=Worklist,
        use_groups=True,
        with_superuser=False,
        accept_global_perms=False,
    )


def worklist_permissions(user: Any, worklist: Worklist) -> set[str]:
    """The permission codenames `user` holds on `worklist` through roles or direct grants.

    Like `worklists_for_user`, superuser status and global permissions do not count.
    """
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return set()
    cache = getattr(user, "_worklist_perm_cache", None)
    if cache is None:
        cache = user._worklist_perm_cache = {}
    if worklist.pk not in cache:
        content_type = ContentType.objects.get_for_model(Worklist)
        object_pk = str(worklist.pk)
        via_groups = GroupObjectPermission.objects.filter(
            group__user=user, content_type=content_type, object_pk=object_pk
        ).values_list("permission__codename", flat=True)
        direct = UserObjectPermission.objects.filter(
            user=user, content_type=content_type, object_pk=object_pk
        ).values_list("permission__codename", flat=True)
        cache[worklist.pk] = set(via_groups) | set(direct)
    return cache[worklist.pk]


def user_has_worklist_perm(user: Any, perm: str, worklist: Worklist) -> bool:
    return perm in worklist_permissions(user, worklist)
