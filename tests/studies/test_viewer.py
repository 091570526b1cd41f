"""The viewer page (clinician view and the guest variant) and the study page's thumbnails."""

import datetime
import json
import re

import pytest
from django.test import RequestFactory
from django.urls import reverse

from audit.models import AuditEvent
from studies.viewer import render_viewer
from tests.factories import StudyFactory, WorklistFactory, add_to_worklist, ct_series, grant

pytestmark = pytest.mark.django_db


def viewer_url(study, worklist=None):  # type: ignore[no-untyped-def]
    url = reverse("studies:viewer", args=[study.public_id])
    return f"{url}?worklist={worklist.public_id}" if worklist else url


def page_data(response):  # type: ignore[no-untyped-def]
    match = re.search(
        r'<script id="viewer-data" type="application/json">(.*?)</script>',
        response.content.decode(),
        re.S,
    )
    return json.loads(match.group(1))


@pytest.fixture
def prior(study, worklist):
    prior = StudyFactory(patient_id=study.patient_id, study_date=datetime.date(2020, 1, 1))
    add_to_worklist(prior, worklist)
    ct_series(prior, slices=2)
    return prior


def test_viewer_lists_series_frames_and_priors(login, read_only, study, worklist, prior):
    ct_series(study, slices=3, number=1)
    ct_series(study, slices=2, number=2, series_description="Coronal")
    response = login(read_only).get(viewer_url(study, worklist))
    assert response.status_code == 200
    data = page_data(response)
    current, earlier = data["studies"]
    assert current["uid"] == study.study_instance_uid and earlier["uid"] == prior.study_instance_uid
    assert [len(s["instances"]) for s in current["series"]] == [3, 2]
    assert current["series"][0]["instances"][0][1] == 1  # frames per instance
    assert [p["key"] for p in current["series"][0]["presets"]] == [
        "brain",
        "soft",
        "lung",
        "bone",
        "liver",
    ]
    assert data["dicomweb"] == "/dicomweb"
    content = response.content.decode()
    assert "Log out" in content  # the clinician keeps the app's top bar
    assert reverse("studies:detail", args=[study.public_id]) in content
    assert response["Cache-Control"] == "private, no-store"
    assert AuditEvent.objects.filter(
        action=AuditEvent.Action.STUDY_OPENED, study_instance_uid=study.study_instance_uid
    ).exists()


def test_viewer_costs_a_fixed_number_of_queries(
    login, read_only, study, worklist, prior, django_assert_max_num_queries
):
    client = login(read_only)
    ct_series(study, slices=2)
    client.get(viewer_url(study, worklist))
    with django_assert_max_num_queries(20) as few:
        client.get(viewer_url(study, worklist))
    for number in range(2, 6):
        ct_series(study, slices=3, number=number)
        ct_series(prior, slices=3, number=number)
    with django_assert_max_num_queries(len(few.captured_queries)):
        client.get(viewer_url(study, worklist))


def test_outsider_gets_404(login, outsider, study):
    assert login(outsider).get(viewer_url(study)).status_code == 404


def test_member_without_view_permission_gets_403(client, study, worklist, organisation):
    from tests.factories import UserFactory

    user = UserFactory(username="uploader", organisation=organisation)
    grant(user, worklist, "upload_studies")
    client.force_login(user)
    assert client.get(viewer_url(study)).status_code == 403


def test_anonymous_is_sent_to_log_in(client, study):
    response = client.get(viewer_url(study))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_wrong_method_is_405(login, read_only, study):
    assert login(read_only).post(viewer_url(study)).status_code == 405


def test_priors_come_from_the_worklist_the_user_came_from(
    login, read_only, study, worklist, organisation
):
    other = WorklistFactory(organisation=organisation)
    grant(read_only, other, "view_studies")
    add_to_worklist(study, other)
    hidden_prior = StudyFactory(patient_id=study.patient_id, study_date=datetime.date(2019, 1, 1))
    add_to_worklist(hidden_prior, other)
    data = page_data(login(read_only).get(viewer_url(study, worklist)))
    assert [s["uid"] for s in data["studies"]] == [study.study_instance_uid]
    data = page_data(login(read_only).get(viewer_url(study, other)))
    assert hidden_prior.study_instance_uid in [s["uid"] for s in data["studies"]]


def test_guest_variant_has_no_way_into_the_app(study, prior, read_only):
    ct_series(study, slices=2)
    request = RequestFactory().get("/g/some-token/")
    request.user = read_only  # even a signed-in browser gets no app links in guest mode
    response = render_viewer(request, study, guest=True, priors=[prior], banner="Shared by Dr Who")
    content = response.content.decode()
    # The page preloads the slice on screen (an image resource, not a way anywhere).
    preloads = re.findall(r'<link rel="preload" as="image" href="([^"]+)"', content)
    assert len(preloads) == 1 and preloads[0].startswith("/dicomweb/studies/")
    hrefs = [h for h in re.findall(r'href="([^"]+)"', content) if h not in preloads]
    assert all(h.startswith("/static/") or h.startswith("#") for h in hrefs), hrefs
    assert "Log out" not in content and "Worklists" not in content
    assert study.patient_display_name in content and "Shared by Dr Who" in content
    assert response["Referrer-Policy"] == "no-referrer"
    data = page_data(response)
    assert [s["uid"] for s in data["studies"]] == [
        study.study_instance_uid,
        prior.study_instance_uid,
    ]


def test_study_page_shows_thumbnails_and_an_open_viewer_button(login, read_only, study, worklist):
    series = ct_series(study, slices=2)
    url = reverse("studies:detail", args=[study.public_id]) + f"?worklist={worklist.public_id}"
    content = login(read_only).get(url).content.decode()
    thumbnail = reverse(
        "dicomweb:series_thumbnail",
        kwargs={"study": study.study_instance_uid, "series": series.series_instance_uid},
    )
    assert f'src="{thumbnail}?accept=image/jpeg"' in content
    assert 'loading="lazy"' in content and 'alt="First image of series 1' in content
    assert f'href="{viewer_url(study, worklist)}"' in content
    assert login(read_only).get(thumbnail).status_code == 200
