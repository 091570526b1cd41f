"""`seed_demo --studies N`: archive-sized metadata in bulk, idempotent, counted right."""

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.core.management import call_command
from django.db import connection
from django.urls import reverse

from demo.management.commands.seed_demo import RADIOLOGY
from demo.scale import (
    SCALE_MEMBERSHIPS,
    existing_scale_studies,
    scale_worklists,
    seed_scale,
)
from studies.models import Study, WorklistEntry
from studies.selectors import worklist_study_counts
from tests.factories import UserFactory, WorklistFactory, grant
from tests.worklists.test_worklist_scale import WORKLIST_PAGE_QUERIES, _page_queries
from worklists.models import Worklist
from worklists.selectors import worklists_for_user

pytestmark = pytest.mark.django_db


def test_seeds_studies_across_worklists_and_patients_once(organisation):
    user = UserFactory(organisation=organisation)
    base = [WorklistFactory(organisation=organisation) for _ in range(2)]
    for worklist in base:
        grant(user, worklist, "view_studies")
    targets = scale_worklists(
        base, organisation=organisation, ensure_member=lambda w: grant(user, w, "view_studies")
    )
    assert len(targets) == SCALE_MEMBERSHIPS
    assert worklists_for_user(user, "view_studies").count() >= SCALE_MEMBERSHIPS
    before = worklist_study_counts(targets)  # cached now: the seeder must drop these
    assert sum(before.values()) == 0

    assert seed_scale(403, targets) == 403
    assert existing_scale_studies() == 403
    assert WorklistEntry.objects.count() == 403
    counts = worklist_study_counts(targets)
    assert sum(counts.values()) == 403
    assert counts[targets[0].pk] == 202  # half in the first, the rest spread over the others
    assert all(counts[w.pk] > 0 for w in targets[1:])
    patients = Study.objects.values("patient_id").distinct().count()
    assert 90 < patients < 110  # a few studies each
    assert Study.objects.filter(number_of_instances=0).count() == 403  # metadata only

    assert seed_scale(403, targets) == 0  # idempotent
    assert seed_scale(500, targets) == 97  # grows by what is missing
    assert Study.objects.count() == 500
    cache.clear()


def test_seed_demo_with_100000_studies_on_postgresql(client):
    """The archive-sized demo as the README gives it, in the PostgreSQL leg of CI (about 20 s
    there): the studies land once, and the demo user's busiest worklist answers with the same
    queries as a small one (the bench times it: `make bench-scale`)."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: the archive size is measured where it is deployed")
    out = StringIO()
    call_command("seed_demo", slices=2, size=32, studies=100_000, stdout=out)
    assert existing_scale_studies() == 100_000
    radiology = Worklist.objects.get(organisation__name=RADIOLOGY[0], name=RADIOLOGY[2])
    counts = worklist_study_counts([radiology])
    assert counts[radiology.pk] >= 50_000  # half of them, and the demo's own

    client.force_login(get_user_model().objects.get(username="demo"))
    base = reverse("worklists:detail", args=[radiology.public_id])
    _page_queries(client, base)  # the sidebar counts are cached from here on
    queries, response = _page_queries(client, base)
    assert queries == WORKLIST_PAGE_QUERIES
    page = response.context["page"]
    deep, _ = _page_queries(client, f"{base}?after={page.next_cursor}")
    assert deep == WORKLIST_PAGE_QUERIES
    searched, response = _page_queries(client, f"{base}?q=a&modality=CT")
    assert searched == WORKLIST_PAGE_QUERIES + 1  # the bounded count
    assert response.status_code == 200

    call_command("seed_demo", slices=2, size=32, studies=100_000, stdout=StringIO())
    assert existing_scale_studies() == 100_000  # a second run adds nothing
