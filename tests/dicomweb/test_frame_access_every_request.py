"""Access to frames is decided afresh on every request, even when the image itself is cached:
nothing about who may see a study is kept between requests (sessions, users and the access
query are read from the database each time; only rendered bytes are cached)."""

import pytest
from django.urls import reverse

from accounts.models import UserSession as Session
from studies.models import WorklistEntry
from testkit.dicom_files import dataset, phantom
from tests.factories import SeriesFactory, instance_for
from worklists import services
from worklists.models import Membership

pytestmark = pytest.mark.django_db


@pytest.fixture
def cached(login, read_only, study, tmp_path):  # type: ignore[no-untyped-def]
    """A signed-in member's client and a frame URL whose image is now in the frame cache."""
    ds = dataset(phantom(high=1000) + 1024, bits_stored=12, signed=True, WindowCenter=40)
    instance = instance_for(ds, series=SeriesFactory(study=study))
    series = instance.series
    url = reverse(
        "dicomweb:frame_rendered",
        kwargs={
            "study": series.study.study_instance_uid,
            "series": series.series_instance_uid,
            "instance": instance.sop_instance_uid,
            "frame": 1,
        },
    )
    client = login(read_only)
    assert client.get(url).status_code == 200
    assert client.get(url).status_code == 200  # from the cache
    cache_files = [p for p in (tmp_path / "media" / "render-cache").rglob("*") if p.is_file()]
    assert cache_files, "the frame should be cached"
    return client, url, cache_files


def test_revoking_membership_makes_the_next_cached_frame_404(cached, read_only, worklist):
    client, url, cache_files = cached
    membership = Membership.objects.get(user=read_only, worklist=worklist)
    services.membership_delete(actor=None, membership=membership)
    assert client.get(url).status_code == 404
    assert all(path.exists() for path in cache_files)  # refused by the check, not a cache miss


def test_removing_the_study_from_the_worklist_makes_the_next_cached_frame_404(
    cached, study, worklist
):
    client, url, _ = cached
    WorklistEntry.objects.filter(study=study, worklist=worklist).delete()
    assert client.get(url).status_code == 404


def test_a_role_without_view_permission_makes_the_next_cached_frame_404(
    cached, read_only, worklist
):
    from tests.factories import grant

    client, url, _ = cached
    grant(read_only, worklist, "upload_studies")  # the same membership, another role
    assert client.get(url).status_code == 404


def test_signing_out_elsewhere_or_deactivation_ends_the_next_cached_frame(cached, read_only, login):
    client, url, _ = cached
    Session.objects.all().delete()  # the session ended in another process
    response = client.get(url)
    assert response.status_code == 403 and response.json()["error"] == "session_ended"
    client = login(read_only)
    assert client.get(url).status_code == 200
    read_only.is_active = False
    read_only.save()
    response = client.get(url)
    assert response.status_code == 403 and response.json()["error"] == "session_ended"


def test_a_cached_frame_costs_three_queries(cached, django_assert_num_queries):
    client, url, _ = cached
    with django_assert_num_queries(3):  # the session; the user with organisation; access
        assert client.get(url).status_code == 200
