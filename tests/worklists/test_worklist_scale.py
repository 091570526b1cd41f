"""The worklist page at archive size: keyset pages, a fixed number of queries, cached counts.

Timings are in `make bench` (bench/scale.py); these tests hold what makes them hold: the page's
queries do not grow with studies, worklists or depth, and every page is the right slice.
"""

import datetime as dt
import re

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from studies.models import WorklistEntry
from studies.selectors import SORTS, entry_page, worklist_entries, worklist_study_counts
from tests.factories import StudyFactory, UserFactory, WorklistFactory, add_to_worklist, grant

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_cached_counts():
    cache.clear()
    yield
    cache.clear()


def _studies(worklist, count, *, start=0):  # type: ignore[no-untyped-def]
    """Studies with repeated dates and names, some without a date or a time."""
    made = []
    for n in range(start, start + count):
        study = StudyFactory(
            patient_name=f"Name^{n % 4}",
            study_date=None if n % 5 == 0 else dt.date(2024, 1, 1 + n % 3),
            study_time=None if n % 3 == 0 else dt.time(8 + n % 2),
        )
        add_to_worklist(study, worklist)
        made.append(study)
    return made


@pytest.mark.parametrize("sort", list(SORTS))
def test_keyset_pages_walk_the_whole_order_forwards_and_back(worklist, sort):
    _studies(worklist, 23)
    entries = worklist_entries(worklist=worklist, sort=sort)
    expected = list(entries.values_list("id", flat=True))
    assert len(expected) == 23

    pages, page = [], entry_page(entries, sort=sort, per_page=4)
    while True:
        pages.append([entry.id for entry in page])
        assert page.number == len(pages)
        if not page.next_cursor:
            break
        page = entry_page(entries, sort=sort, after=page.next_cursor, per_page=4)
    assert [pk for chunk in pages for pk in chunk] == expected
    assert len(pages) == 6

    # And back from the last page, one page at a time, to the first.
    for number in range(len(pages) - 1, 0, -1):
        page = entry_page(entries, sort=sort, before=page.previous_cursor, per_page=4)
        assert [entry.id for entry in page] == pages[number - 1]
        assert page.number == number
    assert page.previous_cursor is None


def test_a_cursor_that_is_not_ours_gives_the_first_page(login, read_only, worklist):
    _studies(worklist, 3)
    base = reverse("worklists:detail", args=[worklist.public_id])
    for junk in ("x", "eyJhIjoxfQ", "W1s", "WzEsWyJub3QgYSBkYXRlIiwgbnVsbCwgMV1d", "%00"):
        response = login(read_only).get(base, {"after": junk})
        assert response.status_code == 200
        assert "Page 1" not in response.content.decode()  # one page: no pagination shown
        assert len(response.context["page"].entries) == 3


def _page_queries(client, path):  # type: ignore[no-untyped-def]
    with CaptureQueriesContext(connection) as captured:
        response = client.get(path)
    assert response.status_code == 200
    return len(captured), response


# The worklist page's queries, whatever the number of studies, worklists and the page's depth:
# session, user, the worklist with its access check, the permissions held there (one query,
# worklists.access), the visible worklists, the page of entries; a filtered list adds its bounded
# count. The sidebar's counts come from the cache (no count query). A change here is a change
# to the page's cost.
WORKLIST_PAGE_QUERIES = 6


def test_the_worklist_page_runs_a_fixed_number_of_queries(client, organisation):
    user = UserFactory(organisation=organisation)
    worklists = [WorklistFactory(organisation=organisation) for _ in range(3)]
    for worklist in worklists:
        grant(user, worklist, "view_studies")
    _studies(worklists[0], 30)
    client.force_login(user)
    base = reverse("worklists:detail", args=[worklists[0].public_id])
    _page_queries(client, base)  # the counts are cached from here on

    small, response = _page_queries(client, base)
    assert small == WORKLIST_PAGE_QUERIES
    deep_cursor = response.context["page"].next_cursor
    deep, _ = _page_queries(client, f"{base}?after={deep_cursor}")
    searched, _ = _page_queries(client, f"{base}?q=name&modality=CT&sort=name")

    # Ten times the studies and five times the worklists: the same queries.
    more = [WorklistFactory(organisation=organisation) for _ in range(12)]
    for worklist in more:
        grant(user, worklist, "view_studies")
        _studies(worklist, 5, start=1000 + worklist.pk * 10)
    _studies(worklists[0], 270, start=100)
    _page_queries(client, base)
    large, response = _page_queries(client, base)
    assert large == small
    page = response.context["page"]
    for _ in range(8):  # a deep page, through the next links
        _, response = _page_queries(client, f"{base}?after={page.next_cursor}")
        page = response.context["page"]
    assert page.number == 9
    assert _page_queries(client, f"{base}?after={page.next_cursor}")[0] == deep == small
    assert _page_queries(client, f"{base}?q=name&modality=CT&sort=name")[0] == searched
    assert searched == small + 1  # the bounded count


def test_sidebar_counts_are_cached_and_follow_new_and_removed_entries(client, owner, worklist):
    other = WorklistFactory(organisation=worklist.organisation)
    grant(owner, other, "view_studies")
    _studies(worklist, 3)
    client.force_login(owner)
    base = reverse("worklists:detail", args=[worklist.public_id])
    client.get(base)
    with CaptureQueriesContext(connection) as captured:
        response = client.get(base)
    assert not [q for q in captured if "COUNT(" in q["sql"].upper()]
    shown = {w.pk: w.study_count for w in response.context["worklists"]}
    assert (shown[worklist.pk], shown[other.pk]) == (3, 0)

    entry = add_to_worklist(StudyFactory(), other)
    assert worklist_study_counts([worklist, other]) == {worklist.pk: 3, other.pk: 1}
    entry.delete()
    WorklistEntry.objects.filter(worklist=worklist).first().delete()  # type: ignore[union-attr]
    assert worklist_study_counts([worklist, other]) == {worklist.pk: 2, other.pk: 0}
    assert "2 studies" in client.get(base).content.decode()


def test_a_filtered_list_counts_up_to_the_limit(login, read_only, worklist, monkeypatch):
    monkeypatch.setattr("studies.selectors.COUNT_LIMIT", 5)
    _studies(worklist, 7)
    base = reverse("worklists:detail", args=[worklist.public_id])
    many = login(read_only).get(base, {"q": "name"}).content.decode()
    assert "More than 5 studies" in many
    few = login(read_only).get(base, {"q": "name^1"}).content.decode()
    assert re.search(r"\b2 studies\b", few)


def test_ids_and_accession_numbers_match_from_their_start(login, read_only, worklist):
    add_to_worklist(StudyFactory(patient_id="AB1234", accession_number="X99"), worklist)
    add_to_worklist(StudyFactory(patient_id="ZZ1234", accession_number="AB77"), worklist)
    base = reverse("worklists:detail", args=[worklist.public_id])
    page = login(read_only).get(base, {"q": "ab"}).context["page"]
    assert sorted(entry.study.patient_id for entry in page) == ["AB1234", "ZZ1234"]
    page = login(read_only).get(base, {"q": "1234"}).context["page"]
    assert list(page) == []
