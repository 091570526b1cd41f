"""WADO-RS frames: uncompressed octet-stream by default, the stored compressed bytes on request."""

import re

import numpy as np
import pytest

from testkit.dicom_files import dataset, jpeg_baseline, phantom
from tests.factories import SeriesFactory, instance_for

pytestmark = pytest.mark.django_db


def frame_parts(response):  # type: ignore[no-untyped-def]
    assert response.status_code == 200, response
    content_type = response["Content-Type"]
    boundary = re.search(r"boundary=([^;]+)", content_type).group(1)  # type: ignore[union-attr]
    body = b"".join(response.streaming_content)
    chunks = body.split(f"--{boundary}".encode())[1:-1]
    out = []
    for chunk in chunks:
        headers, _, payload = chunk.partition(b"\r\n\r\n")
        out.append((headers.decode().split(": ", 1)[1], payload[:-2]))
    return content_type, out


def url(instance, frames: str) -> str:  # type: ignore[no-untyped-def]
    series = instance.series
    return (
        f"/dicomweb/studies/{series.study.study_instance_uid}/series/"
        f"{series.series_instance_uid}/instances/{instance.sop_instance_uid}/frames/{frames}"
    )


def test_native_multiframe_frames_as_octet_stream(login, read_only, study):
    pixels = np.stack([phantom() + 100 * n for n in range(3)]).astype(np.uint16)
    instance = instance_for(dataset(pixels, bits_stored=12), series=SeriesFactory(study=study))
    content_type, parts = frame_parts(login(read_only).get(url(instance, "3,1")))
    assert content_type.startswith('multipart/related; type="application/octet-stream"')
    assert [part_type for part_type, _ in parts] == [
        "application/octet-stream; transfer-syntax=1.2.840.10008.1.2.1"
    ] * 2
    assert parts[0][1] == pixels[2].astype("<u2").tobytes()
    assert parts[1][1] == pixels[0].astype("<u2").tobytes()


def test_compressed_frames_decoded_or_as_stored(login, read_only, study):
    grey = phantom(low=0, high=255).astype(np.uint8)
    instance = instance_for(
        jpeg_baseline(grey, photometric="MONOCHROME2"), series=SeriesFactory(study=study)
    )
    client = login(read_only)
    _, [(part_type, data)] = frame_parts(client.get(url(instance, "1")))
    assert part_type.startswith("application/octet-stream") and len(data) == grey.size
    _, [(part_type, data)] = frame_parts(
        client.get(
            url(instance, "1"),
            HTTP_ACCEPT='multipart/related; type="image/jpeg"; transfer-syntax=*',
        )
    )
    assert part_type == "image/jpeg; transfer-syntax=1.2.840.10008.1.2.4.50"
    assert data.startswith(b"\xff\xd8")


def test_frame_errors_and_access(client, login, read_only, outsider, study):
    instance = instance_for(dataset(phantom(), bits_stored=12), series=SeriesFactory(study=study))
    member = login(read_only)
    assert member.get(url(instance, "2")).status_code == 404
    assert member.get(url(instance, "0")).status_code == 404
    assert member.get(url(instance, "one")).status_code == 400
    assert login(outsider).get(url(instance, "1")).status_code == 404
    client.logout()
    assert client.get(url(instance, "1")).status_code == 401
