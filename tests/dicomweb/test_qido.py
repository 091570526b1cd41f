"""QIDO-RS: every matching key, limit/offset/includefield, both roots, every kind of caller."""

import pytest
from pydicom.uid import generate_uid

from guestlinks import services as guestlink_services
from tests.factories import WorklistFactory, grant

from .apidata import bearer, ct_files, store, stored, token  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db

STUDIES = "/dicomweb/studies"


def uids(response, tag="0020000D"):  # type: ignore[no-untyped-def]
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/dicom+json"
    return [item[tag]["Value"][0] for item in response.json()]


@pytest.fixture
def two_studies(worklist, stored):  # noqa: F811
    other_uid = generate_uid()
    [ds] = ct_files(other_uid, [generate_uid()], 1)
    ds.PatientName, ds.PatientID, ds.AccessionNumber = "Other^Person", "OTHER-9", "ACC7"
    ds.StudyDate, ds.Modality = "20230101", "MR"
    store(worklist, [ds])
    return stored.study_uid, other_uid


def test_search_studies_with_each_matching_key(login, read_only, two_studies):
    api, other = two_studies
    client = login(read_only)
    assert sorted(uids(client.get(STUDIES))) == sorted([api, other])
    cases = {
        "PatientName=api*": [api],
        "PatientName=API%5EPAT?ENT": [api],
        "00100010=Other*": [other],
        "PatientID=API-1": [api],
        "AccessionNumber=ACC7": [other],
        "StudyDate=20240315": [api],
        "StudyDate=20230101-20231231": [other],
        "StudyDate=-20231231": [other],
        "StudyDate=20240101-": [api],
        "ModalitiesInStudy=MR": [other],
        "ModalitiesInStudy=CT": [api],
        f"StudyInstanceUID={api}": [api],
        f"StudyInstanceUID={api},{other}": [api, other],
        "PatientName=Nobody*": [],
    }
    for query, expected in cases.items():
        assert sorted(uids(client.get(f"{STUDIES}?{query}"))) == sorted(expected), query


def test_limit_offset_and_includefield(login, read_only, two_studies):
    client = login(read_only)
    first = uids(client.get(f"{STUDIES}?limit=1"))
    second = uids(client.get(f"{STUDIES}?limit=1&offset=1"))
    assert len(first) == len(second) == 1 and first != second
    [plain] = client.get(f"{STUDIES}?PatientID=API-1").json()
    assert "00100030" not in plain and plain["00100010"]["Value"] == [{"Alphabetic": "Api^Patient"}]
    assert plain["00201208"]["Value"] == [4] and plain["00201206"]["Value"] == [2]
    assert plain["00081190"]["Value"][0].endswith(f"/dicomweb/studies/{two_studies[0]}")
    [full] = client.get(f"{STUDIES}?PatientID=API-1&includefield=PatientSex").json()
    assert "00100040" in full
    [everything] = client.get(f"{STUDIES}?PatientID=API-1&includefield=all").json()
    assert {"00100030", "00100040", "00100021", "00200010"} <= set(everything)


@pytest.mark.parametrize(
    "query",
    ["limit=0", "offset=-1", "limit=x", "StudyDate=2024", "Bogus=1", "Modality=CT", "99999999=1"],
)
def test_bad_parameters_are_400(login, read_only, stored, query):  # noqa: F811
    response = login(read_only).get(f"{STUDIES}?{query}")
    assert response.status_code == 400
    assert response.content.decode().strip()


def test_series_and_instances(login, read_only, stored):  # noqa: F811
    client = login(read_only)
    base = f"{STUDIES}/{stored.study_uid}/series"
    assert uids(client.get(base), "0020000E") == stored.series_uids
    assert uids(client.get(f"{base}?SeriesNumber=2"), "0020000E") == stored.series_uids[1:]
    assert uids(client.get(f"{base}?Modality=CT&limit=1"), "0020000E") == stored.series_uids[:1]
    instances = f"{base}/{stored.series_uids[0]}/instances"
    assert uids(client.get(instances), "00080018") == stored.sop_uids[:2]
    assert uids(client.get(f"{instances}?InstanceNumber=2"), "00080018") == stored.sop_uids[1:2]
    assert (
        uids(client.get(f"{instances}?SOPInstanceUID={stored.sop_uids[0]}"), "00080018")
        == (stored.sop_uids[:1])
    )
    [item] = client.get(f"{instances}?limit=1&includefield=AvailableTransferSyntaxUID").json()
    assert item["00083002"]["Value"] == ["1.2.840.10008.1.2.1"]
    assert item["00280010"]["Value"] == [64]


def test_anonymous_gets_401_and_outsider_sees_nothing(client, login, outsider, stored):  # noqa: F811
    response = client.get(STUDIES)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    client = login(outsider)
    assert client.get(STUDIES).json() == []
    assert client.get(f"{STUDIES}/{stored.study_uid}/series").status_code == 404


def test_token_sees_what_its_user_sees(client, token, stored):  # noqa: F811
    assert uids(client.get(STUDIES, **bearer(token))) == [stored.study_uid]


def test_scoped_root_covers_one_worklist_for_its_members(
    client,
    login,
    read_only,
    outsider,
    worklist,
    stored,  # noqa: F811
):
    elsewhere = WorklistFactory(organisation=worklist.organisation)
    grant(read_only, elsewhere, "view_studies")
    other_uid = generate_uid()
    store(elsewhere, ct_files(other_uid, [generate_uid()], 1))
    member_client = login(read_only)
    assert sorted(uids(member_client.get(STUDIES))) == sorted([stored.study_uid, other_uid])
    scoped = f"/dicomweb/worklists/{worklist.share_code}/studies"
    assert uids(member_client.get(scoped)) == [stored.study_uid]
    assert uids(member_client.get(f"/dicomweb/worklists/{elsewhere.share_code}/studies")) == [
        other_uid
    ]
    assert member_client.get(f"{scoped}/{other_uid}/series").status_code == 404
    assert login(outsider).get(scoped).status_code == 404
    assert client.get("/dicomweb/worklists/ZZZZZZZZ/studies").status_code == 404


def test_a_guest_sees_only_their_links_study(client, owner, worklist, stored):  # noqa: F811
    other_uid = generate_uid()
    store(worklist, ct_files(other_uid, [generate_uid()], 1))
    link = guestlink_services.guestlink_create(actor=owner, study=stored.study, worklist=worklist)
    assert client.post(link.get_absolute_url()).status_code == 303  # to the guest viewer
    assert uids(client.get(STUDIES)) == [stored.study_uid]
    assert client.get(f"{STUDIES}/{other_uid}/series").status_code == 404
    assert client.get(f"/dicomweb/worklists/{worklist.share_code}/studies").status_code == 404
