"""DICOMweb reads in the audit trail, like the UI's: a search is one "Query" event, a retrieve
(study, series, instance, metadata, bulk data) one event per request for its study, frames
"images viewed" once per session or API token and series; who (user, API token, guest link),
from where, the outcome; a refusal recorded as denied, answered as if nothing were there."""

import pytest
from pydicom.uid import generate_uid

from accounts.services import api_token_create
from audit.models import AuditEvent
from guestlinks import services as guestlink_services
from notifications import services as notifications
from tests.dicomweb.apidata import bearer, ct_files, store, stored  # noqa: F401 (fixture)
from tests.dicomweb.test_stow import CONTENT_TYPE, body, files

pytestmark = pytest.mark.django_db

BROWSER = "dicomweb-test-client/1.0"
FROM = {"REMOTE_ADDR": "198.51.100.23", "HTTP_USER_AGENT": BROWSER}
STUDIES = "/dicomweb/studies"


def events(*actions):  # type: ignore[no-untyped-def]
    return list(AuditEvent.objects.filter(action__in=actions).order_by("id"))


def dicomweb_events():  # type: ignore[no-untyped-def]
    return events(
        AuditEvent.Action.DICOMWEB_QUERY,
        AuditEvent.Action.DICOMWEB_RETRIEVED,
        AuditEvent.Action.IMAGES_VIEWED,
    )


def test_a_search_is_one_query_event_with_who_from_where_and_what(
    login,
    read_only,
    stored,  # noqa: F811
):
    client = login(read_only)
    assert client.get(STUDIES, {"PatientName": "Api*", "limit": "5"}, **FROM).status_code == 200
    [event] = dicomweb_events()
    assert event.action == "dicomweb_query" and event.dicom_event == "Query (110112)"
    assert event.actor == read_only and event.outcome == "success"
    assert event.ip_address == "198.51.100.23" and event.user_agent == BROWSER
    assert event.study_instance_uid == ""
    assert event.details["resource"] == "search_studies"
    assert event.details["query"] == {"PatientName": ["Api*"], "limit": ["5"]}
    assert "api_token" not in event.details

    series = client.get(f"{STUDIES}/{stored.study_uid}/series", **FROM)
    assert series.status_code == 200
    event = dicomweb_events()[-1]
    assert event.details["resource"] == "search_series"
    assert event.study_instance_uid == stored.study_uid


def test_each_retrieve_is_one_event_for_its_study_naming_the_token(
    client,
    read_only,
    worklist,
    stored,  # noqa: F811
):
    _, token = api_token_create(user=read_only, name="OHIF viewer")
    study = f"{STUDIES}/{stored.study_uid}"
    series = f"{study}/series/{stored.series_uids[0]}"
    instance = f"{series}/instances/{stored.sop_uids[0]}"
    scoped = f"/dicomweb/worklists/{worklist.share_code}{series.removeprefix('/dicomweb')}"
    for url in (
        study,
        f"{study}/metadata",
        series,
        f"{scoped}/metadata",
        instance,
        f"{instance}/metadata",
        f"{instance}/bulkdata/7FE00010",
    ):
        response = client.get(url, **bearer(token), **FROM)
        assert response.status_code == 200, url
        if response.streaming:
            b"".join(response.streaming_content)  # read to the end, as a client does
    retrieved = dicomweb_events()
    assert [event.details["resource"] for event in retrieved] == [
        "retrieve_study",
        "study_metadata",
        "retrieve_series",
        "series_metadata",
        "retrieve_instance",
        "instance_metadata",
        "retrieve_bulkdata",
    ]
    for event in retrieved:
        assert event.action == "dicomweb_retrieved"
        assert event.dicom_event == "DICOM Instances Transferred (110104)"
        assert event.actor == read_only and event.outcome == "success"
        assert event.study_instance_uid == stored.study_uid
        assert event.ip_address == "198.51.100.23" and event.user_agent == BROWSER
        token_row = read_only.api_tokens.get()
        assert event.details["api_token"] == {"id": str(token_row.public_id), "name": "OHIF viewer"}
        assert token not in str(event.details)  # the secret itself is never recorded
    assert retrieved[3].details["worklist_share_code"] == worklist.share_code
    assert retrieved[-1].details["path"] == "7FE00010"


def test_frames_are_images_viewed_once_per_token_and_series(
    client,
    read_only,
    stored,  # noqa: F811
):
    _, token = api_token_create(user=read_only, name="viewer")
    series = [f"{STUDIES}/{stored.study_uid}/series/{uid}" for uid in stored.series_uids]
    first = [f"{series[0]}/instances/{sop}/frames/1" for sop in stored.sop_uids[:2]]
    for url in first * 3:  # every frame of the first series, three times over
        assert client.get(url, **bearer(token)).status_code == 200
    second = f"{series[1]}/instances/{stored.sop_uids[2]}/frames/1"
    assert client.get(second, **bearer(token)).status_code == 200
    viewed = dicomweb_events()
    assert [event.details["series"] for event in viewed] == stored.series_uids
    assert all(event.action == "images_viewed" and event.actor == read_only for event in viewed)
    assert viewed[0].details["resource"] == "retrieve_frames"
    assert viewed[0].details["api_token"]["name"] == "viewer"

    # Another token of the same user is another client: its first frame is recorded again.
    _, other = api_token_create(user=read_only, name="script")
    assert client.get(first[0], **bearer(other)).status_code == 200
    assert len(dicomweb_events()) == 3


def test_a_refusal_is_denied_and_answered_as_if_nothing_were_there(
    client,
    login,
    owner,
    outsider,
    worklist,
    stored,  # noqa: F811
):
    hidden, missing = stored.study_uid, str(generate_uid())
    outsider_client = login(outsider)
    answers = [
        outsider_client.get(f"{STUDIES}/{uid}/metadata", **FROM) for uid in (hidden, missing)
    ]
    assert [a.status_code for a in answers] == [404, 404]
    assert answers[0].content == answers[1].content  # nothing tells them apart
    denied = dicomweb_events()
    assert [event.outcome for event in denied] == ["denied", "denied"]
    assert [event.study_instance_uid for event in denied] == [hidden, missing]
    assert denied[0].actor == outsider and denied[0].details["status"] == 404
    assert denied[0].ip_address == "198.51.100.23"

    # A worklist root the caller is not a member of; a search there too.
    root = f"/dicomweb/worklists/{worklist.share_code}/studies"
    assert outsider_client.get(f"{root}/{hidden}").status_code == 404
    assert outsider_client.get(root).status_code == 404
    assert [e.outcome for e in dicomweb_events()[2:]] == ["denied", "denied"]
    assert dicomweb_events()[-1].action == "dicomweb_query"

    # Frames, by the API and by the viewer's rendered path.
    instance = f"{STUDIES}/{hidden}/series/{stored.series_uids[0]}/instances/{stored.sop_uids[0]}"
    assert outsider_client.get(f"{instance}/frames/1").status_code == 404
    assert outsider_client.get(f"{instance}/frames/1/rendered").status_code == 404
    refused_frames = events(AuditEvent.Action.IMAGES_VIEWED)
    assert [(e.outcome, e.details["resource"]) for e in refused_frames] == [
        ("denied", "retrieve_frames"),
        ("denied", "frame_rendered"),
    ]

    # A guest of another study: denied, with their link.
    outsider_client.logout()
    [other] = store(worklist, ct_files(str(generate_uid()), [str(generate_uid())], 1))
    link = guestlink_services.guestlink_create(actor=owner, study=other, worklist=worklist)
    assert client.post(link.get_absolute_url()).status_code == 303
    assert client.get(f"{STUDIES}/{hidden}").status_code == 404
    event = dicomweb_events()[-1]
    assert event.outcome == "denied" and event.actor is None
    assert event.guest_link_id == link.public_id and event.study_instance_uid == hidden
    notifications.inline_delivery_resume()


def test_a_guest_of_this_study_is_recorded_with_the_link(
    client,
    owner,
    worklist,
    stored,  # noqa: F811
):
    link = guestlink_services.guestlink_create(actor=owner, study=stored.study, worklist=worklist)
    assert client.post(link.get_absolute_url()).status_code == 303
    assert client.get(f"{STUDIES}/{stored.study_uid}/metadata").status_code == 200
    [event] = events(AuditEvent.Action.DICOMWEB_RETRIEVED)
    assert event.outcome == "success" and event.actor is None
    assert event.guest_link_id == link.public_id
    assert event.study_instance_uid == stored.study_uid
    notifications.inline_delivery_resume()


def test_failures_and_no_caller(client, login, read_only, stored):  # noqa: F811
    assert client.get(f"{STUDIES}/{stored.study_uid}").status_code == 401
    assert client.post(f"{STUDIES}/{stored.study_uid}").status_code == 405
    assert dicomweb_events() == []  # no one to record, and nothing read

    member = login(read_only)
    assert member.get(STUDIES, {"NoSuchKey": "x"}).status_code == 400
    series = f"{STUDIES}/{stored.study_uid}/series/{stored.series_uids[0]}"
    assert member.get(f"{series}/instances/1.2.3/metadata").status_code == 404
    bad, missing = dicomweb_events()
    assert (bad.action, bad.outcome, bad.details["status"]) == ("dicomweb_query", "failure", 400)
    # A visible study's missing instance is not a refusal: the caller may see the study.
    assert (missing.outcome, missing.study_instance_uid) == ("failure", stored.study_uid)


def test_stow_is_recorded_as_an_upload_and_a_refused_one_as_denied(
    client, login, member, outsider, worklist
):
    _, token = api_token_create(user=member, name="archive")
    url = f"/dicomweb/worklists/{worklist.share_code}/studies"
    data = body(*files(2))
    stored_answer = client.post(url, data, content_type=CONTENT_TYPE, **bearer(token), **FROM)
    assert stored_answer.status_code == 200
    [upload] = events(AuditEvent.Action.STUDY_UPLOADED)
    assert upload.actor == member and upload.outcome == "success"
    assert upload.details["api_token"]["name"] == "archive"
    assert upload.ip_address == "198.51.100.23"

    refused = login(outsider).post(url, data, content_type=CONTENT_TYPE)
    assert refused.status_code == 404
    denied = events(AuditEvent.Action.STUDY_UPLOADED)[-1]
    assert denied.outcome == "denied" and denied.actor == outsider
    assert denied.details["resource"] == "store_instances"
