"""WADO-RS: study, series and instance retrieval as streamed multipart, and metadata."""

import io
import json
import re

import pydicom
import pytest

from .apidata import bearer, stored, token  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db

STUDIES = "/dicomweb/studies"


def parts(response):  # type: ignore[no-untyped-def]
    """The DICOM parts of a multipart/related answer, parsed."""
    content_type = response["Content-Type"]
    assert content_type.startswith('multipart/related; type="application/dicom"')
    boundary = re.search(r"boundary=([^;]+)", content_type).group(1)  # type: ignore[union-attr]
    body = b"".join(response.streaming_content)
    assert body.endswith(f"--{boundary}--\r\n".encode())
    chunks = body.split(f"--{boundary}".encode())[1:-1]
    datasets = []
    for chunk in chunks:
        headers, _, payload = chunk.partition(b"\r\n\r\n")
        assert b"Content-Type: application/dicom; transfer-syntax=" in headers
        datasets.append(pydicom.dcmread(io.BytesIO(payload[:-2])))
    return datasets


def test_retrieve_study_series_and_instance(login, read_only, stored):  # noqa: F811
    client = login(read_only)
    study = client.get(f"{STUDIES}/{stored.study_uid}")
    assert study.streaming
    assert [str(ds.SOPInstanceUID) for ds in parts(study)] == stored.sop_uids
    series = client.get(f"{STUDIES}/{stored.study_uid}/series/{stored.series_uids[1]}")
    assert [str(ds.SOPInstanceUID) for ds in parts(series)] == stored.sop_uids[2:]
    series_url = f"{STUDIES}/{stored.study_uid}/series/{stored.series_uids[0]}"
    one = f"{series_url}/instances/{stored.sop_uids[0]}"
    [ds] = parts(client.get(one, HTTP_ACCEPT='multipart/related; type="application/dicom"'))
    assert ds.pixel_array.shape == (64, 48)
    assert client.get(one, HTTP_ACCEPT="image/png").status_code == 406


def test_metadata_at_each_level(login, read_only, stored):  # noqa: F811
    client = login(read_only)
    response = client.get(f"{STUDIES}/{stored.study_uid}/metadata")
    assert response["Content-Type"] == "application/dicom+json"
    items = json.loads(b"".join(response.streaming_content))
    assert [item["00080018"]["Value"][0] for item in items] == stored.sop_uids
    # Pixel data by reference, not inline (test_bulkdata).
    assert set(items[0]["7FE00010"]) == {"vr", "BulkDataURI"}
    series = client.get(f"{STUDIES}/{stored.study_uid}/series/{stored.series_uids[0]}/metadata")
    assert len(json.loads(b"".join(series.streaming_content))) == 2


def test_wado_permissions(client, login, outsider, token, worklist, stored):  # noqa: F811
    url = f"{STUDIES}/{stored.study_uid}"
    assert client.get(url).status_code == 401
    assert login(outsider).get(url).status_code == 404
    assert login(outsider).get(f"{url}/metadata").status_code == 404
    client.logout()
    assert [str(ds.SOPInstanceUID) for ds in parts(client.get(url, **bearer(token)))] == (
        stored.sop_uids
    )
    scoped = f"/dicomweb/worklists/{worklist.share_code}/studies/{stored.study_uid}"
    assert len(parts(client.get(scoped, **bearer(token)))) == 4
    assert client.post(url, **bearer(token)).status_code == 405
