"""WADO-RS bulk data: the metadata refers to large binary values (and the pixel data) by URL,
and each URL answers the value, byte for byte, streamed from the stored file, for exactly the
callers who may see the study."""

import hashlib
import json
import re

import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import generate_uid

from guestlinks import services as guestlink_services
from notifications import services
from studies.services import study_ingest
from tests.bounded import MiB, bounded
from tests.factories import WorklistFactory, grant

from .apidata import bearer, ct_files, store

pytestmark = pytest.mark.django_db

BIG = bytes(range(256)) * 20  # 5120 bytes: above the 1 KiB threshold
SMALL = b"\x01\x02" * 100  # 200 bytes: inline
NESTED = b"\xab\xcd" * 1500  # 3000 bytes, inside a sequence item


def with_bulk(ds: Dataset) -> Dataset:
    """A private binary attribute at the top level, a small one, and one inside a sequence."""
    block = ds.private_block(0x0009, "CIMAR TEST", create=True)
    block.add_new(0x10, "OB", BIG)
    block.add_new(0x11, "OB", SMALL)
    item = Dataset()
    item.ReferencedSOPInstanceUID = "1.2.3"
    item.add_new(0x00091010, "OB", NESTED)  # a tag only: the item's own private creator is absent
    second = Dataset()
    second.ReferencedSOPInstanceUID = "1.2.4"
    ds.ReferencedImageSequence = Sequence([second, item])
    return ds


@pytest.fixture
def bulky(worklist):  # type: ignore[no-untyped-def]
    study_uid, series_uid = str(generate_uid()), str(generate_uid())
    [ds] = ct_files(study_uid, [series_uid], 1)
    ds = with_bulk(ds)
    [study] = store(worklist, [ds])
    instance = f"/studies/{study_uid}/series/{series_uid}/instances/{ds.SOPInstanceUID}"
    return study, ds, instance


def parts(response) -> list[tuple[str, bytes]]:  # type: ignore[no-untyped-def]
    """(Content-Type, payload) of each part of a multipart/related answer."""
    content_type = response["Content-Type"]
    assert content_type.startswith("multipart/related")
    boundary = re.search(r"boundary=([^;]+)", content_type).group(1)  # type: ignore[union-attr]
    body = b"".join(response.streaming_content)
    assert body.endswith(f"--{boundary}--\r\n".encode())
    found = []
    for chunk in body.split(f"--{boundary}".encode())[1:-1]:
        headers, _, payload = chunk.partition(b"\r\n\r\n")
        kind = re.search(rb"Content-Type: ([^\r\n]+)", headers).group(1).decode()  # type: ignore[union-attr]
        found.append((kind, payload[:-2]))
    return found


def metadata(client, url: str, **headers) -> dict:  # type: ignore[no-untyped-def]
    response = client.get(f"{url}/metadata", **headers)
    assert response.status_code == 200, response.content
    (item,) = response.json()
    return item


def test_metadata_refers_to_bulk_data_and_each_reference_answers_the_value(login, read_only, bulky):
    _, ds, instance = bulky
    client = login(read_only)
    item = metadata(client, f"/dicomweb{instance}")
    base = f"http://testserver/dicomweb{instance}/bulkdata/"
    assert item["00091010"] == {"vr": "OB", "BulkDataURI": base + "00091010"}
    assert item["00091011"]["InlineBinary"]  # small values stay inline
    assert item["7FE00010"] == {"vr": "OW", "BulkDataURI": base + "7FE00010"}
    [second, first] = item["00081140"]["Value"]
    assert second["00081155"]["Value"] == ["1.2.4"]
    assert first["00091010"] == {"vr": "OB", "BulkDataURI": base + "00081140/1/00091010"}
    assert json.dumps(item).count("BulkDataURI") == 3

    expected = {
        "00091010": ds[0x00091010].value,
        "00081140/1/00091010": ds.ReferencedImageSequence[1][0x00091010].value,
        "7FE00010": ds.PixelData,  # native: the stored bytes, as pydicom reads them
    }
    for path, value in expected.items():
        response = client.get(base + path)
        assert response.status_code == 200, path
        assert response["Cache-Control"] == "private, no-store"
        assert response["Content-Type"].startswith(
            'multipart/related; type="application/octet-stream"'
        )
        assert parts(response) == [("application/octet-stream", value)], path


def test_the_worklist_root_refers_to_itself(login, read_only, worklist, bulky):
    _, ds, instance = bulky
    root = f"/dicomweb/worklists/{worklist.share_code}{instance}"
    item = metadata(login(read_only), root)
    uri = item["00091010"]["BulkDataURI"]
    assert uri == f"http://testserver{root}/bulkdata/00091010"
    assert parts(login(read_only).get(uri)) == [("application/octet-stream", BIG)]


def test_study_and_series_metadata_refer_to_bulk_data_too(login, read_only, bulky):
    study, _, instance = bulky
    client = login(read_only)
    series_url = instance.split("/instances/")[0]
    for url in (f"/dicomweb/studies/{study.study_instance_uid}", f"/dicomweb{series_url}"):
        [item] = json.loads(b"".join(client.get(f"{url}/metadata").streaming_content))
        assert item["00091010"]["BulkDataURI"].endswith(f"{instance}/bulkdata/00091010")


def test_every_kind_of_caller(client, login, owner, read_only, outsider, worklist, bulky):
    study, _, instance = bulky
    url = f"/dicomweb{instance}/bulkdata/00091010"
    scoped = f"/dicomweb/worklists/{worklist.share_code}{instance}/bulkdata/00091010"

    assert client.get(url).status_code == 401  # anonymous
    assert client.get(url)["WWW-Authenticate"].startswith("Bearer")
    assert client.get(scoped).status_code == 401
    assert login(outsider).get(url).status_code == 404
    assert login(outsider).get(scoped).status_code == 404
    bare = WorklistFactory(organisation=worklist.organisation)  # a member elsewhere only
    grant(outsider, bare, "view_studies")
    assert login(outsider).get(url).status_code == 404
    for user in (read_only, owner):
        assert parts(login(user).get(url)) == [("application/octet-stream", BIG)]
        assert parts(login(user).get(scoped)) == [("application/octet-stream", BIG)]
    client.logout()

    from accounts.services import api_token_create

    _, mine = api_token_create(user=read_only, name="viewer")
    _, theirs = api_token_create(user=outsider, name="elsewhere")
    assert parts(client.get(url, **bearer(mine))) == [("application/octet-stream", BIG)]
    assert parts(client.get(scoped, **bearer(mine))) == [("application/octet-stream", BIG)]
    assert client.get(url, **bearer(theirs)).status_code == 404
    assert client.get(url, **bearer("cs_not-a-token")).status_code == 401

    # A guest of another study of the same worklist sees nothing of this one.
    other_uid = str(generate_uid())
    [other] = store(worklist, ct_files(other_uid, [str(generate_uid())], 1))
    link = guestlink_services.guestlink_create(actor=owner, study=other, worklist=worklist)
    assert client.post(link.get_absolute_url()).status_code == 303
    assert client.get(url).status_code == 404
    assert client.get(url)["Referrer-Policy"] == "no-referrer"

    # A guest of this study sees it under /dicomweb/, never under a worklist's root.
    client.logout()
    link = guestlink_services.guestlink_create(actor=owner, study=study, worklist=worklist)
    assert client.post(link.get_absolute_url()).status_code == 303
    response = client.get(url)
    assert parts(response) == [("application/octet-stream", BIG)]
    assert response["Referrer-Policy"] == "no-referrer"
    assert client.get(scoped).status_code == 404
    assert client.post(url).status_code == 405
    services.inline_delivery_resume()


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("00100010", 404),  # Patient's Name: in the metadata, not bulk data
        ("00091012", 404),  # not in the file
        ("00081140/5/00091010", 404),  # no such item
        ("00100010/0/00091010", 404),  # not a sequence
        ("0009101", 404),  # not a tag (the URL does not match)
        ("00081140/x/00091010", 404),
    ],
)
def test_paths_that_name_no_bulk_data_are_404(login, read_only, bulky, path, status):
    _, _, instance = bulky
    assert login(read_only).get(f"/dicomweb{instance}/bulkdata/{path}").status_code == status


def test_a_media_type_other_than_octets_is_406(login, read_only, bulky):
    _, _, instance = bulky
    client = login(read_only)
    url = f"/dicomweb{instance}/bulkdata/00091010"
    assert client.get(url, HTTP_ACCEPT="image/png").status_code == 406
    accepted = client.get(url, HTTP_ACCEPT='multipart/related; type="application/octet-stream"')
    assert accepted.status_code == 200


def test_encapsulated_pixel_data_is_sent_as_its_frames(login, read_only, worklist):
    from pydicom.encaps import encapsulate
    from pydicom.uid import RLELossless

    from testkit.dicom_files import dataset, phantom

    ds = dataset(phantom(), bits_stored=12)
    ds.compress(RLELossless, encoding_plugin="pydicom")
    ds.StudyInstanceUID, ds.SeriesInstanceUID = str(generate_uid()), str(generate_uid())
    store(worklist, [ds])
    url = (
        f"/dicomweb/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}"
        f"/instances/{ds.SOPInstanceUID}"
    )
    client = login(read_only)
    assert metadata(client, url)["7FE00010"]["vr"] == "OB"
    [(kind, frame)] = parts(client.get(f"{url}/bulkdata/7FE00010"))
    assert kind == f"image/dicom-rle; transfer-syntax={RLELossless}"
    assert encapsulate([frame]) == ds.PixelData


def test_a_large_value_is_streamed_in_bounded_memory(login, read_only, worklist, tmp_path):
    """A 160 MiB value is sent by a process allowed 64 MiB more than it had: it is read from
    the file a chunk at a time, never whole (neither for the metadata nor for itself)."""
    pattern = bytes(range(256)) * 4096  # 1 MiB
    [ds] = ct_files(str(generate_uid()), [str(generate_uid())], 1)
    ds.private_block(0x0009, "CIMAR TEST", create=True).add_new(0x10, "OB", pattern * 160)
    path = tmp_path / "large.dcm"
    ds.save_as(path, enforce_file_format=True)
    del ds[0x00091010]
    with open(path, "rb") as handle:
        report = study_ingest(actor=None, worklist=worklist, files=[("large.dcm", handle)])
    assert not report.rejected, report.rejected
    path.unlink()
    instance = (
        f"/dicomweb/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}"
        f"/instances/{ds.SOPInstanceUID}"
    )
    client = login(read_only)

    def fetch():  # type: ignore[no-untyped-def]
        item = metadata(client, instance)
        response = client.get(item["00091010"]["BulkDataURI"])
        boundary = re.search(r"boundary=([^;]+)", response["Content-Type"]).group(1)  # type: ignore[union-attr]
        head = f"--{boundary}\r\nContent-Type: application/octet-stream\r\n\r\n".encode()
        tail = f"\r\n--{boundary}--\r\n".encode()
        # The value's digest, between the part's head and the closing delimiter (held back
        # until the end: a chunk may end inside it).
        digest, pending, started = hashlib.sha256(), b"", False
        for chunk in response.streaming_content:
            pending += chunk
            if not started:
                if len(pending) < len(head):
                    continue
                assert pending.startswith(head)
                pending, started = pending[len(head) :], True
            digest.update(pending[: -len(tail)])
            pending = pending[-len(tail) :]
        return response.status_code, pending == tail, digest.hexdigest()

    expected = hashlib.sha256()
    for _ in range(160):
        expected.update(pattern)
    assert bounded(fetch, headroom=64 * MiB).value == (200, True, expected.hexdigest())
