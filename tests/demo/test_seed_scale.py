"""`seed_demo --studies N`: archive-sized metadata in bulk, idempotent, counted right."""

import pytest
from django.core.cache import cache

from demo.scale import (
    SCALE_MEMBERSHIPS,
    existing_scale_studies,
    scale_worklists,
    seed_scale,
)
from studies.models import Study, WorklistEntry
from studies.selectors import worklist_study_counts
from tests.factories import UserFactory, WorklistFactory, grant
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
