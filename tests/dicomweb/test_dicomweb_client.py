"""A standard DICOMweb client library (dicomweb-client) against a live server: it searches,
retrieves and stores with an API token, as an archive or a viewer would."""

import pytest
from dicomweb_client.api import DICOMwebClient
from pydicom.uid import generate_uid

from accounts.services import api_token_create

from .apidata import ct_files, store

pytestmark = pytest.mark.django_db(transaction=True)


def test_search_retrieve_and_store(live_server, member, worklist):
    _, plaintext = api_token_create(user=member, name="archive")
    study_uid = str(generate_uid())
    store(worklist, ct_files(study_uid, [str(generate_uid())], 2))
    root = DICOMwebClient(
        url=f"{live_server.url}/dicomweb", headers={"Authorization": f"Bearer {plaintext}"}
    )
    scoped = DICOMwebClient(
        url=f"{live_server.url}/dicomweb/worklists/{worklist.share_code}",
        headers={"Authorization": f"Bearer {plaintext}"},
    )

    [found] = root.search_for_studies(search_filters={"PatientName": "Api*"})
    assert found["0020000D"]["Value"] == [study_uid]
    [series] = root.search_for_series(study_uid)
    instances = root.search_for_instances(study_uid, series["0020000E"]["Value"][0])
    assert len(instances) == 2

    retrieved = root.retrieve_study(study_uid)
    assert sorted(str(ds.SOPInstanceUID) for ds in retrieved) == sorted(
        i["00080018"]["Value"][0] for i in instances
    )
    assert retrieved[0].pixel_array.shape == (64, 48)
    metadata = root.retrieve_study_metadata(study_uid)
    assert len(metadata) == 2
    series_uid, sop_uid = series["0020000E"]["Value"][0], instances[0]["00080018"]["Value"][0]
    [frame] = root.retrieve_instance_frames(study_uid, series_uid, sop_uid, frame_numbers=[1])
    assert len(frame) == 64 * 48 * 2

    new_uid = str(generate_uid())
    answer = scoped.store_instances(ct_files(new_uid, [str(generate_uid())], 3))
    assert len(answer.ReferencedSOPSequence) == 3
    [stored] = scoped.search_for_studies(search_filters={"StudyInstanceUID": new_uid})
    assert stored["00201208"]["Value"] == [3]


def test_a_revoked_or_missing_token_is_refused(live_server, member):
    client = DICOMwebClient(url=f"{live_server.url}/dicomweb")
    with pytest.raises(Exception, match="401"):
        client.search_for_studies()
