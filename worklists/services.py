"""Write paths for worklists, roles and memberships, and their guardian permission sync.

Each role on a worklist is a Django group holding that role's object permissions on the
worklist; a membership puts the user in that group. Changes apply on the user's next request
(`worklists.access` caches answers on the user object, which lives for one request).
"""

from typing import Any

from django.contrib.auth.models import Group
from django.db import IntegrityError, transaction
from guardian.models import GroupObjectPermission
from guardian.shortcuts import assign_perm

from audit.models import AuditEvent
from audit.services import record_event

from . import sharecodes
from .models import Membership, Role, RoleGroup, Worklist


def _role_group(worklist: Worklist, role: Role) -> Group:
    role_group = (
        RoleGroup.objects.filter(worklist=worklist, role=role).select_related("group").first()
    )
    if role_group is not None:
        return role_group.group
    group = Group.objects.create(name=f"worklist {worklist.public_id} role {role.pk}")
    RoleGroup.objects.create(worklist=worklist, role=role, group=group)
    _sync_group_permissions(group, worklist, role)
    return group


def _sync_group_permissions(group: Group, worklist: Worklist, role: Role) -> None:
    wanted = {permission.codename for permission in role.permissions.all()}
    existing = GroupObjectPermission.objects.filter(
        group=group, object_pk=str(worklist.pk), content_type__app_label="worklists"
    ).select_related("permission")
    have = set()
    for row in existing:
        if row.permission.codename in wanted:
            have.add(row.permission.codename)
        else:
            row.delete()
    for codename in wanted - have:
        assign_perm(f"worklists.{codename}", group, worklist)


def role_sync_permissions(*, role: Role) -> None:
    """Bring every worklist group of this role in line with the role's permission set."""
    for role_group in RoleGroup.objects.filter(role=role).select_related("group", "worklist"):
        _sync_group_permissions(role_group.group, role_group.worklist, role)


def _membership_sync_groups(membership: Membership) -> None:
    user, worklist = membership.user, membership.worklist
    stale = Group.objects.filter(role_group__worklist=worklist, user=user).exclude(
        role_group__role=membership.role
    )
    user.groups.remove(*stale)
    user.groups.add(_role_group(worklist, membership.role))


@transaction.atomic
def role_save(*, actor: Any, role: Role, request: Any = None) -> Role:
    """Save a role (after its permissions changed) and re-sync every worklist it is used on."""
    role.full_clean()
    role.save()
    role_sync_permissions(role=role)
    record_event(
        action=AuditEvent.Action.ROLE_CHANGED,
        actor=actor,
        request=request,
        details={
            "role": role.name,
            "permissions": sorted(p.codename for p in role.permissions.all()),
        },
    )
    return role


@transaction.atomic
def membership_save(*, actor: Any, membership: Membership, request: Any = None) -> Membership:
    """Create or change a membership and put the user in the group of their role."""
    membership.full_clean()
    before = Membership.objects.filter(pk=membership.pk).select_related("user", "worklist").first()
    if before and (before.user_id, before.worklist_id) != (
        membership.user_id,
        membership.worklist_id,
    ):
        # The membership moved to another user or worklist: the old pair loses its access.
        before.user.groups.remove(*Group.objects.filter(role_group__worklist=before.worklist))
    membership.save()
    _membership_sync_groups(membership)
    record_event(
        action=AuditEvent.Action.MEMBERSHIP_CHANGED,
        actor=actor,
        request=request,
        details={
            "user": membership.user.get_username(),
            "worklist": str(membership.worklist.public_id),
            "role": membership.role.name,
        },
    )
    return membership


@transaction.atomic
def membership_delete(*, actor: Any, membership: Membership, request: Any = None) -> None:
    user, worklist = membership.user, membership.worklist
    user.groups.remove(*Group.objects.filter(role_group__worklist=worklist))
    record_event(
        action=AuditEvent.Action.MEMBERSHIP_CHANGED,
        actor=actor,
        request=request,
        details={"user": user.get_username(), "worklist": str(worklist.public_id), "role": None},
    )
    membership.delete()


def membership_grant(*, actor: Any, user: Any, worklist: Worklist, role: Role) -> Membership:
    """Give `user` the `role` on `worklist`, replacing any role they had there."""
    membership = Membership.objects.filter(user=user, worklist=worklist).first()
    if membership is None:
        membership = Membership(user=user, worklist=worklist, role=role)
    else:
        membership.role = role
    return membership_save(actor=actor, membership=membership)


@transaction.atomic
def worklist_regenerate_share_code(*, actor: Any, worklist: Worklist, request: Any = None) -> str:
    old = worklist.share_code
    for _ in range(10):
        worklist.share_code = sharecodes.generate()
        try:
            with transaction.atomic():
                worklist.save(update_fields=["share_code"])
            break
        except IntegrityError:  # astronomically rare collision: draw again
            continue
    record_event(
        action=AuditEvent.Action.SHARE_CODE_REGENERATED,
        actor=actor,
        request=request,
        details={"worklist": str(worklist.public_id), "old": old, "new": worklist.share_code},
    )
    return worklist.share_code


def personal_worklist_ensure(*, user: Any) -> Worklist:
    """Every user has a personal worklist, with the personal role that fits them (see
    `personal_role`)."""
    worklist = Worklist.objects.filter(owner=user).first()
    if worklist is not None:
        return worklist
    worklist = Worklist.objects.create(
        kind=Worklist.Kind.PERSONAL,
        owner=user,
        organisation=user.organisation,
        name=f"{user.display_name} (personal)",
    )
    membership_grant(actor=None, user=user, worklist=worklist, role=personal_role(user))
    return worklist


@transaction.atomic
def personal_worklist_sync(*, actor: Any, user: Any, request: Any = None) -> Worklist:
    """After a user's organisation changed: their personal worklist moves with them, and their
    role on it becomes the one that fits (an invited outsider attached to an organisation gets
    the full owner role; someone detached from theirs is back to view-only).

    A role an administrator chose by hand on that worklist is left alone.
    """
    worklist = personal_worklist_ensure(user=user)
    if worklist.organisation_id != user.organisation_id:
        worklist.organisation = user.organisation
        worklist.save(update_fields=["organisation"])
    wanted = personal_role(user)
    membership = Membership.objects.filter(user=user, worklist=worklist).first()
    if membership is None:
        membership = Membership(user=user, worklist=worklist, role=wanted)
    elif membership.role_id == wanted.pk or membership.role.name not in PERSONAL_ROLE_NAMES:
        return worklist
    membership.role = wanted
    membership_save(actor=actor, membership=membership, request=request)
    return worklist


OWNER_ROLE_NAME = "Personal worklist owner"
INVITED_ROLE_NAME = "Personal worklist (invited)"
PERSONAL_ROLE_NAMES = (OWNER_ROLE_NAME, INVITED_ROLE_NAME)


def personal_role(user: Any) -> Role:
    """Members of an organisation get every permission on their personal worklist. People
    invited from outside any organisation only view what was shared with them: they may not
    share it onward or make guest links until an administrator attaches them to one."""
    return owner_role() if user.organisation_id is not None else invited_role()


def owner_role() -> Role:
    from .models import product_permissions

    role, created = Role.objects.get_or_create(
        name=OWNER_ROLE_NAME,
        defaults={"description": "Every permission on one's own personal worklist."},
    )
    if created:
        role.permissions.set(product_permissions())
    return role


def invited_role() -> Role:
    from .models import product_permissions

    role, created = Role.objects.get_or_create(
        name=INVITED_ROLE_NAME,
        defaults={
            "description": "For people invited from outside any organisation: view the studies "
            "shared with them, nothing more."
        },
    )
    if created:
        role.permissions.set(product_permissions().filter(codename="view_studies"))
    return role
