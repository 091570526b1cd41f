"""Referrer-Policy (accounts.referrer): everything a guest is shown sends no referrer, whatever
its status (but a 404 that Django's own handler renders); clinicians' pages and images keep the
site's policy (same-origin)."""

import pytest
from django.urls import reverse

from tests.factories import StudyFactory, add_to_worklist, ct_series
from tests.guestlinks.conftest import open_link

pytestmark = pytest.mark.django_db


def image_urls(series):
    instance = series.instances.first()
    ids = {
        "study": series.study.study_instance_uid,
        "series": series.series_instance_uid,
        "instance": instance.sop_instance_uid,
    }
    return [
        reverse("dicomweb:frame_rendered", kwargs={**ids, "frame": 1}),
        reverse("dicomweb:frame_rendered", kwargs={**ids, "frame": 99}),  # 404: no such frame
        reverse("dicomweb:instance_metadata", kwargs=ids),
        reverse("dicomweb:series_thumbnail", kwargs={k: ids[k] for k in ("study", "series")}),
    ]


def test_a_guest_is_sent_no_referrer_on_every_answer(client, make_link, study, worklist):
    series = ct_series(study, slices=1)
    elsewhere = StudyFactory()
    add_to_worklist(elsewhere, worklist)  # the clinician's, not the guest's
    link = make_link()
    assert client.get(link.get_absolute_url())["Referrer-Policy"] == "no-referrer"  # the gate
    viewer = client.get(open_link(client, link)["Location"])
    assert viewer.status_code == 200 and viewer["Referrer-Policy"] == "no-referrer"
    for url in image_urls(series):  # including a 404 the endpoint answers itself
        response = client.get(url)
        assert response["Referrer-Policy"] == "no-referrer", (url, response.status_code)
    for url in image_urls(ct_series(elsewhere, slices=1)):
        assert client.get(url).status_code == 404, url  # Django's 404 page: nothing to leak
    client.logout()  # the session has ended: the viewer is told so, with no referrer
    ended = client.get(image_urls(series)[0])
    assert ended.status_code == 403 and ended["Referrer-Policy"] == "no-referrer"


def test_clinicians_keep_the_sites_policy(login, read_only, study, worklist):
    series = ct_series(study, slices=1)
    client = login(read_only)
    page = reverse("studies:viewer", args=[study.public_id]) + f"?worklist={worklist.public_id}"
    assert client.get(page)["Referrer-Policy"] == "same-origin"
    for url in image_urls(series):
        assert client.get(url)["Referrer-Policy"] == "same-origin", url
