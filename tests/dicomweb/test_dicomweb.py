"""The /dicomweb/ resources: access on every URL, negotiation, parameters, caching, errors."""

import numpy as np
import pytest
from django.urls import reverse

from dicomweb.tasks import prerender_study
from studies import rendering
from testkit.dicom_files import close, dataset, decoded, phantom, reference_window, to_bytes
from tests.factories import (
    SeriesFactory,
    StudyFactory,
    WorklistFactory,
    add_to_worklist,
    grant,
    instance_for,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def ct_instance(study):
    stored = phantom(high=1000) + 1024
    ds = dataset(
        stored,
        bits_stored=12,
        signed=True,
        RescaleIntercept=-1024,
        RescaleSlope=1,
        WindowCenter=40,
        WindowWidth=400,
    )
    instance = instance_for(ds, series=SeriesFactory(study=study))
    instance.expected = reference_window(stored - 1024, 40, 400)
    instance.stored = stored
    return instance


def uids(instance):  # type: ignore[no-untyped-def]
    series = instance.series
    return {
        "study": series.study.study_instance_uid,
        "series": series.series_instance_uid,
        "instance": instance.sop_instance_uid,
    }


def urls(instance):  # type: ignore[no-untyped-def]
    """Every image and metadata URL of an instance."""
    ids = uids(instance)
    series_ids = {"study": ids["study"], "series": ids["series"]}
    return [
        reverse("dicomweb:frame_rendered", kwargs={**ids, "frame": 1}),
        reverse("dicomweb:frame_thumbnail", kwargs={**ids, "frame": 1}),
        reverse("dicomweb:instance_rendered", kwargs=ids),
        reverse("dicomweb:instance_thumbnail", kwargs=ids),
        reverse("dicomweb:instance_metadata", kwargs=ids),
        reverse("dicomweb:series_thumbnail", kwargs=series_ids),
    ]


def frame_url(instance, frame=1):  # type: ignore[no-untyped-def]
    return reverse("dicomweb:frame_rendered", kwargs={**uids(instance), "frame": frame})


def test_every_url_works_for_a_member(login, read_only, ct_instance):
    client = login(read_only)
    for url in urls(ct_instance):
        response = client.get(url)
        assert response.status_code == 200, url
        assert response["Cache-Control"] == "private, no-store"


@pytest.mark.parametrize("who", ["outsider", "other_worklist_member"])
def test_every_url_is_404_without_access(client, ct_instance, outsider, organisation, who):
    if who == "outsider":
        client.force_login(outsider)
    else:
        from tests.factories import UserFactory

        user = UserFactory(username="elsewhere", organisation=organisation)
        grant(user, WorklistFactory(organisation=organisation), "view_studies")
        client.force_login(user)
    for url in urls(ct_instance):
        assert client.get(url).status_code == 404, url


def test_without_any_session_every_url_says_so_in_a_small_uncached_json(client, ct_instance):
    """No one signed in and no guest session: the same answer whether the image exists or
    not, which the viewer understands (it stops and shows the message)."""
    missing = {**uids(ct_instance), "instance": "1.2.3.4.5"}
    nowhere = reverse("dicomweb:frame_rendered", kwargs={**missing, "frame": 1})
    # The metadata is the DICOMweb API's (wado): a 401 asking for a token (test_wado).
    metadata = reverse("dicomweb:instance_metadata", kwargs=uids(ct_instance))
    assert client.get(metadata).status_code == 401
    for url in [*urls(ct_instance), nowhere]:
        if url == metadata:
            continue
        response = client.get(url)
        assert response.status_code == 403, url
        assert response["Content-Type"] == "application/json"
        assert response.json() == {
            "error": "session_ended",
            "message": "Your session has ended: open your link again, or sign in.",
        }
        assert "no-store" in response["Cache-Control"]


def test_member_without_view_permission_gets_404(client, ct_instance, worklist, organisation):
    from tests.factories import UserFactory

    user = UserFactory(username="sharer", organisation=organisation)
    grant(user, worklist, "share_study")
    client.force_login(user)
    assert client.get(frame_url(ct_instance)).status_code == 404


def test_instance_must_belong_to_the_series_and_study(login, read_only, ct_instance, worklist):
    other_study = StudyFactory()
    add_to_worklist(other_study, worklist)  # visible too, but not the instance's study
    ids = uids(ct_instance)
    client = login(read_only)
    wrong = [
        {**ids, "study": other_study.study_instance_uid},
        {**ids, "series": SeriesFactory(study=other_study).series_instance_uid},
    ]
    for kwargs in wrong:
        url = reverse("dicomweb:frame_rendered", kwargs={**kwargs, "frame": 1})
        assert client.get(url).status_code == 404


def test_guest_session_granted_the_study(client, ct_instance, monkeypatch):
    from guestlinks import access

    monkeypatch.setattr(access, "guest_study_ids", lambda request: {ct_instance.series.study_id})
    for url in urls(ct_instance):
        response = client.get(url)
        assert response.status_code == 200, url
        # Patient data is never stored on the device (issue 15); frames keep their validator.
        assert response["Cache-Control"] == "private, no-store", url
        assert ("ETag" in response) == ("metadata" not in url), url
        assert response["Referrer-Policy"] == "no-referrer", url


def test_clinicians_never_store_images(login, read_only, ct_instance):
    client = login(read_only)
    for url in urls(ct_instance):
        assert client.get(url)["Cache-Control"] == "private, no-store", url


def test_wrong_method_is_405(read_only, ct_instance):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)  # as a browser: the CSRF check is on
    client.force_login(read_only)
    for url in urls(ct_instance):
        for method in (client.post, client.put, client.delete):
            assert method(url).status_code == 405, url


def test_rendered_png_matches_the_expected_image(login, read_only, ct_instance):
    response = login(read_only).get(frame_url(ct_instance), HTTP_ACCEPT="image/png")
    assert response["Content-Type"] == "image/png"
    assert close(decoded(response.content), ct_instance.expected)


def test_window_viewport_and_quality_parameters(login, read_only, ct_instance):
    client = login(read_only)
    response = client.get(frame_url(ct_instance), {"window": "500,1000,linear-exact"})
    expected = reference_window(ct_instance.stored - 1024, 500, 1000, "LINEAR_EXACT")
    assert close(decoded(response.content), expected)
    response = client.get(
        frame_url(ct_instance), {"viewport": "24,24", "quality": "50"}, HTTP_ACCEPT="image/jpeg"
    )
    assert response["Content-Type"] == "image/jpeg"
    assert decoded(response.content).shape == (24, 18)


@pytest.mark.parametrize(
    ("accept", "query", "expected"),
    [
        ("image/jpeg", None, "image/jpeg"),
        ("image/webp", None, "image/webp"),
        ("image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8", None, "image/png"),
        ("image/png;q=0.5, image/jpeg", None, "image/jpeg"),
        ("", None, "image/png"),
        ("image/png", "image/jpeg", "image/jpeg"),
    ],
)
def test_accept_negotiation(login, read_only, ct_instance, accept, query, expected):
    params = {"accept": query} if query else {}
    response = login(read_only).get(frame_url(ct_instance), params, HTTP_ACCEPT=accept)
    assert response.status_code == 200
    assert response["Content-Type"] == expected


def test_unsupported_accept_is_406(login, read_only, ct_instance):
    client = login(read_only)
    response = client.get(frame_url(ct_instance), HTTP_ACCEPT="image/gif")
    assert response.status_code == 406
    assert b"image/png" in response.content
    assert client.get(frame_url(ct_instance), HTTP_ACCEPT="image/png;q=0").status_code == 406
    metadata = reverse("dicomweb:instance_metadata", kwargs=uids(ct_instance))
    assert client.get(metadata, HTTP_ACCEPT="image/png").status_code == 406


@pytest.mark.parametrize(
    "params",
    [
        {"window": "abc,400"},
        {"window": "40"},
        {"window": "40,0"},
        {"window": "40,400,cubic"},
        {"window": "nan,400"},
        {"viewport": "0,10"},
        {"viewport": "10"},
        {"viewport": "10,10,0,0,5,5"},
        {"viewport": "a,b"},
        {"quality": "101"},
        {"quality": "x"},
    ],
)
def test_bad_parameters_are_400_with_a_reason(login, read_only, ct_instance, params):
    response = login(read_only).get(frame_url(ct_instance), params, HTTP_ACCEPT="image/jpeg")
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/plain")
    assert len(response.content.strip()) > 10


def test_frame_out_of_range_is_404(login, read_only, ct_instance):
    client = login(read_only)
    assert client.get(frame_url(ct_instance, 2)).status_code == 404
    assert client.get(frame_url(ct_instance, 0)).status_code == 404


def test_multi_frame_instance(login, read_only, study):
    frames = np.stack([phantom(low=0, high=1000) + 1000 * k for k in range(3)])
    instance = instance_for(
        dataset(frames, WindowCenter=1500, WindowWidth=3000), series=SeriesFactory(study=study)
    )
    response = login(read_only).get(frame_url(instance, 3))
    assert close(decoded(response.content), reference_window(frames[2], 1500, 3000))


def test_conditional_get_is_304_and_etag_is_strong(login, read_only, ct_instance):
    client = login(read_only)
    first = client.get(frame_url(ct_instance))
    etag = first["ETag"]
    assert etag.startswith('"') and not etag.startswith("W/")
    again = client.get(frame_url(ct_instance), HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304 and again.content == b""
    other = client.get(frame_url(ct_instance), {"window": "1,100"}, HTTP_IF_NONE_MATCH=etag)
    assert other.status_code == 200 and other["ETag"] != etag


def test_cache_serves_without_the_file_and_survives_a_new_process(
    login, read_only, ct_instance, settings, tmp_path
):
    client = login(read_only)
    first = client.get(frame_url(ct_instance))
    cached = list((tmp_path / "media" / "render-cache").rglob("*"))
    assert any(path.is_file() for path in cached)
    ct_instance.file.storage.delete(ct_instance.file.name)  # only the cache can answer now
    rendering.header._read_info_cached.cache_clear()
    second = client.get(frame_url(ct_instance))
    assert second.status_code == 200 and second.content == first.content


def test_django_cache_backend(login, read_only, ct_instance, settings):
    settings.FRAME_CACHE = "django"
    client = login(read_only)
    first = client.get(frame_url(ct_instance))
    ct_instance.file.storage.delete(ct_instance.file.name)
    assert client.get(frame_url(ct_instance)).content == first.content


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"not a dicom file at all", b"not readable DICOM"),
        ("truncated", b"truncated"),
    ],
)
def test_undecodable_files_are_422_with_the_reason(login, read_only, study, data, reason):
    if data == "truncated":
        data = to_bytes(dataset(phantom()))[:-500]
    instance = instance_for(to_bytes(dataset(phantom())), series=SeriesFactory(study=study))
    with instance.file.storage.open(instance.file.name, "wb") as handle:
        handle.write(data)
    response = login(read_only).get(frame_url(instance))
    assert response.status_code == 422
    assert reason in response.content


def test_absurd_dimensions_are_422(login, read_only, ct_instance, settings):
    settings.DICOM_MAX_PIXELS = 100
    response = login(read_only).get(frame_url(ct_instance))
    assert response.status_code == 422 and b"too large" in response.content


def test_thumbnails_are_small_jpegs(login, read_only, ct_instance):
    client = login(read_only)
    url = reverse(
        "dicomweb:series_thumbnail",
        kwargs={"study": uids(ct_instance)["study"], "series": uids(ct_instance)["series"]},
    )
    response = client.get(url, HTTP_ACCEPT="image/*")
    assert response["Content-Type"] == "image/jpeg"
    assert max(decoded(response.content).shape) <= 256


def test_metadata_is_dicom_json_with_pixel_data_by_reference(login, read_only, ct_instance):
    url = reverse("dicomweb:instance_metadata", kwargs=uids(ct_instance))
    response = login(read_only).get(url, HTTP_ACCEPT="application/dicom+json")
    assert response["Content-Type"] == "application/dicom+json"
    (attributes,) = response.json()
    assert attributes["00100010"]["Value"] == [{"Alphabetic": "Test^Render"}]
    assert attributes["00281050"]["Value"] == [40]
    pixel_data = attributes["7FE00010"]
    assert "InlineBinary" not in pixel_data and "Value" not in pixel_data
    bulk = url.replace("metadata", "bulkdata/7FE00010")
    assert pixel_data["BulkDataURI"] == "http://testserver" + bulk


def test_metadata_with_a_not_a_number_decimal_is_null_not_an_error(login, read_only, study):
    ds = dataset(phantom(high=1000), WindowCenter="NaN", WindowWidth=400)
    instance = instance_for(ds, series=SeriesFactory(study=study))
    url = reverse("dicomweb:instance_metadata", kwargs=uids(instance))
    response = login(read_only).get(url)
    assert response.status_code == 200
    (attributes,) = response.json()
    assert attributes["00281050"]["Value"] == [None]


def test_access_check_is_a_fixed_small_number_of_queries(
    login, read_only, ct_instance, django_assert_max_num_queries
):
    client = login(read_only)
    client.get(frame_url(ct_instance))
    with django_assert_max_num_queries(3):  # session, user with organisation, access
        assert client.get(frame_url(ct_instance)).status_code == 200


def test_prerender_fills_the_cache_for_the_default_view(login, read_only, ct_instance, monkeypatch):
    result = prerender_study(ct_instance.series.study_id)
    assert result == {"frames": 1, "thumbnails": 1, "failed": 0}

    def no_rendering(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("rendered although pre-rendered")

    monkeypatch.setattr(rendering, "render", no_rendering)
    client = login(read_only)
    for url in urls(ct_instance)[:4]:
        if "metadata" not in url:
            accept = "image/jpeg" if "thumbnail" in url else "image/png"
            assert client.get(url, HTTP_ACCEPT=accept).status_code == 200, url


def test_fast_access_check_agrees_with_worklists_for_user(rf, study, worklist, organisation):
    """The frame endpoint's one-query check and the app's worklist selector decide alike."""
    from django.contrib.auth.models import Permission
    from django.http import Http404
    from guardian.shortcuts import assign_perm

    from dicomweb.frames import get_instance_for_request
    from tests.factories import UserFactory
    from worklists.selectors import worklists_for_user

    instance = instance_for(dataset(phantom()), series=SeriesFactory(study=study))
    role_member = UserFactory(username="role", organisation=organisation)
    grant(role_member, worklist, "view_studies")
    direct = UserFactory(username="direct", organisation=organisation)
    assign_perm("worklists.view_studies", direct, worklist)
    wrong_perm = UserFactory(username="wrongperm", organisation=organisation)
    grant(wrong_perm, worklist, "share_study", "create_guest_links")
    superuser = UserFactory(username="root", organisation=organisation, is_superuser=True)
    global_perm = UserFactory(username="global", organisation=organisation)
    global_perm.user_permissions.add(Permission.objects.get(codename="view_studies"))
    inactive = UserFactory(username="inactive", organisation=organisation, is_active=False)
    grant(inactive, worklist, "view_studies")
    expected = {
        "role": True,
        "direct": True,
        "wrongperm": False,
        "root": False,
        "global": False,
        "inactive": False,
    }
    for user in (role_member, direct, wrong_perm, superuser, global_perm, inactive):
        request = rf.get("/")
        request.user = user
        selector = worklists_for_user(user, "view_studies").filter(entries__study=study).exists()
        try:
            get_instance_for_request(request, *uids(instance).values())
            fast = True
        except Http404:
            fast = False
        assert fast == selector == expected[user.username], user.username
