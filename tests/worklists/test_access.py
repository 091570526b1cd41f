"""`worklists.access` gives one answer to "may U do P on W" in every form it is asked:
per worklist (cached), as a queryset of worklists, as a queryset of users, and as the frame
path's plain SQL; and that answer is guardian's own object-permission lookup without
superuser status or global permissions. Checked over a matrix of users (roles, direct user and
group object permissions, both, inactive, superuser, global permission, a grant on another
content type, nobody), every product permission and every worklist."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser, Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from guardian.shortcuts import assign_perm, get_objects_for_user

from studies.models import Study
from tests.factories import StudyFactory, UserFactory, WorklistFactory, grant
from worklists.access import (
    has_worklist_perm,
    users_with_worklist_perm,
    worklist_perm_params,
    worklist_perm_sql,
    worklist_permissions,
    worklists_for_user,
)
from worklists.models import PRODUCT_PERMISSION_CODENAMES, Worklist

pytestmark = pytest.mark.django_db


@pytest.fixture
def matrix(organisation):
    """Three shared worklists, users granted in every way, and what each may do on them."""
    a = WorklistFactory(organisation=organisation, kind="location", name="A")
    b = WorklistFactory(organisation=organisation, kind="location", name="B")
    c = WorklistFactory(organisation=organisation, kind="group", name="C")

    def user(name, **kwargs):  # type: ignore[no-untyped-def]
        return UserFactory(username=name, organisation=organisation, **kwargs)

    role = user("role")
    grant(role, a, "view_studies", "share_study")
    grant(role, b, "upload_studies")
    direct = user("direct")
    assign_perm("worklists.view_studies", direct, a)  # a grant made in admin, to the user
    team = Group.objects.create(name="Reporting team")  # not a role group: made in admin
    assign_perm("worklists.share_study", team, b)
    assign_perm("worklists.view_studies", team, b)
    in_group = user("group")
    in_group.groups.add(team)
    both = user("both")
    grant(both, c, "view_studies")
    assign_perm("worklists.share_via_email", both, c)
    inactive = user("inactive", is_active=False)
    grant(inactive, a, "view_studies")
    assign_perm("worklists.share_study", inactive, a)
    user("root", is_superuser=True, is_staff=True)
    everywhere = user("global")
    everywhere.user_permissions.add(Permission.objects.get(codename="view_studies"))
    # A grant on another model whose object id and codename happen to match worklist A's.
    other_type = ContentType.objects.get_for_model(Study)
    lookalike = Permission.objects.create(
        codename="view_studies", name="look-alike", content_type=other_type
    )
    assign_perm(lookalike, user("othertype"), StudyFactory(pk=a.pk))
    user("nobody")
    expected = {
        "role": {(a, "view_studies"), (a, "share_study"), (b, "upload_studies")},
        "direct": {(a, "view_studies")},
        "group": {(b, "share_study"), (b, "view_studies")},
        "both": {(c, "view_studies"), (c, "share_via_email")},
        "inactive": set(),
        "root": set(),
        "global": set(),
        "othertype": set(),
        "nobody": set(),
    }
    return (a, b, c), expected


def fast(user, perm):  # type: ignore[no-untyped-def]
    """The worklist ids the frame path's SQL condition lets through."""
    table = Worklist._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT w.id FROM {table} w WHERE {worklist_perm_sql('w.id')}",  # noqa: S608
            worklist_perm_params(user, perm),
        )
        return {row[0] for row in cursor.fetchall()}


def guardian(user, perm):  # type: ignore[no-untyped-def]
    """guardian's own lookup, without superuser status or global permissions."""
    if not user.is_active:
        return set()
    return set(
        get_objects_for_user(
            user,
            f"worklists.{perm}",
            klass=Worklist,
            with_superuser=False,
            accept_global_perms=False,
        ).values_list("pk", flat=True)
    )


def test_every_form_gives_the_same_answer(matrix):
    shared, expected = matrix
    worklists = list(Worklist.objects.all())  # the three, and every user's personal worklist
    users = list(get_user_model().objects.all())
    assert {u.username for u in users} >= set(expected)
    holders = {
        (perm, w.pk): set(users_with_worklist_perm(perm, w).values_list("pk", flat=True))
        for perm in PRODUCT_PERMISSION_CODENAMES
        for w in worklists
    }
    for user in users:
        fresh = get_user_model().objects.get(pk=user.pk)  # no cached answers
        seen = set(worklists_for_user(user, None).values_list("pk", flat=True))
        assert seen == {w.pk for w in worklists if worklist_permissions(fresh, w)}, user
        for perm in PRODUCT_PERMISSION_CODENAMES:
            listed = set(worklists_for_user(user, perm).values_list("pk", flat=True))
            assert listed == fast(user, perm) == guardian(user, perm), (user, perm)
            for w in worklists:
                answer = has_worklist_perm(fresh, perm, w)
                assert answer == (w.pk in listed) == (user.pk in holders[perm, w.pk]), (
                    user.username,
                    perm,
                    w.name,
                )
                if w in shared and user.username in expected:
                    assert answer == ((w, perm) in expected[user.username]), (
                        user.username,
                        perm,
                        w.name,
                    )


def test_anonymous_may_do_nothing(matrix):
    (a, _, _), _ = matrix
    anonymous = AnonymousUser()
    assert worklist_permissions(anonymous, a) == set()
    assert not worklists_for_user(anonymous, "view_studies").exists()
    assert not worklists_for_user(anonymous, None).exists()
    assert fast(anonymous, "view_studies") == set()


def test_answers_are_cached_for_the_request_and_fresh_on_the_next(
    matrix, django_assert_num_queries
):
    (a, _, _), _ = matrix
    user = get_user_model().objects.get(username="direct")
    with django_assert_num_queries(1):
        assert worklist_permissions(user, a) == {"view_studies"}
        assert has_worklist_perm(user, "view_studies", a)
        assert not has_worklist_perm(user, "share_study", a)
    assign_perm("worklists.share_study", user, a)
    assert not has_worklist_perm(user, "share_study", a)  # the same request: cached
    next_request = get_user_model().objects.get(username="direct")
    assert has_worklist_perm(next_request, "share_study", a)
