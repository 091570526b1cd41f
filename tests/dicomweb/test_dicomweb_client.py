"""A standard DICOMweb client library (dicomweb-client) against a live server: it searches,
retrieves and stores with an API token, as an archive or a viewer would."""

import pytest
from dicomweb_client.api import DICOMwebClient
from pydicom.uid import generate_uid

from accounts.services import api_token_create

from .apidata import ct_files, store

pytestmark = pytest.mark.django_db(transaction=True)


def live(live_server, uri: str) -> str:  # type: ignore[no-untyped-def]
    """dicomweb-client sends `Host` without the port (its own quirk), so the server's absolute
    URLs name port 80: put the live server's port back."""
    assert uri.startswith("http://localhost/"), uri
    return live_server.url + uri.removeprefix("http://localhost")


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

    # Bulk data, where the metadata refers to it: the pixel data, byte for byte.
    instance_metadata = root.retrieve_instance_metadata(study_uid, series_uid, sop_uid)
    uri = live(live_server, instance_metadata["7FE00010"]["BulkDataURI"])
    assert uri.startswith(f"{live_server.url}/dicomweb/studies/{study_uid}/")
    [pixel_data] = root.retrieve_bulkdata(uri)
    [original] = [ds for ds in retrieved if str(ds.SOPInstanceUID) == sop_uid]
    assert pixel_data == original.PixelData
    scoped_instance = scoped.retrieve_instance_metadata(study_uid, series_uid, sop_uid)
    scoped_uri = live(live_server, scoped_instance["7FE00010"]["BulkDataURI"])
    assert scoped.retrieve_bulkdata(scoped_uri) == [pixel_data]

    new_uid = str(generate_uid())
    answer = scoped.store_instances(ct_files(new_uid, [str(generate_uid())], 3))
    assert len(answer.ReferencedSOPSequence) == 3
    [stored] = scoped.search_for_studies(search_filters={"StudyInstanceUID": new_uid})
    assert stored["00201208"]["Value"] == [3]


def test_a_revoked_or_missing_token_is_refused(live_server, member):
    client = DICOMwebClient(url=f"{live_server.url}/dicomweb")
    with pytest.raises(Exception, match="401"):
        client.search_for_studies()
