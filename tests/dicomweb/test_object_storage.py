"""DICOM files and rendered frames on S3-compatible object storage (moto's server on loopback).

On the PostgreSQL + Redis leg (where CI runs the services' tests); skipped elsewhere or when
moto is not installed. The files go in through the storage API, frames come out through the
DICOMweb views, and a frame request reads byte ranges of the file, never the whole object.
"""

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from django.core.files.storage import storages
from django.db import connection
from django.urls import reverse

from dicomweb import objectfiles
from testkit.dicom_files import dataset
from tests.factories import SeriesFactory, instance_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db]
BUCKET = "cimar-test"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def moto_endpoint():
    if connection.vendor != "postgresql":
        pytest.skip("object storage runs on the PostgreSQL + Redis leg")
    server = shutil.which("moto_server", path=str(Path(sys.executable).parent))
    if server is None:
        pytest.skip("moto[server] is not installed")
    port = free_port()
    process = subprocess.Popen(
        [server, "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert process.poll() is None, "moto_server exited"
            assert time.monotonic() < deadline, "moto_server did not start"
            time.sleep(0.2)
    yield endpoint
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture
def s3(settings, moto_endpoint, monkeypatch):
    import boto3

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    client = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    settings.AWS_STORAGE_BUCKET_NAME = BUCKET
    settings.AWS_S3_ENDPOINT_URL = moto_endpoint
    settings.AWS_S3_REGION_NAME = "us-east-1"
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "storages.backends.s3.S3Storage"},
    }
    settings.FRAME_CACHE = "storage"
    storages._storages = {}  # type: ignore[attr-defined]
    yield client
    storages._storages = {}  # type: ignore[attr-defined]
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
        for item in page.get("Contents", []):
            client.delete_object(Bucket=BUCKET, Key=item["Key"])


def keys(client) -> list[str]:  # type: ignore[no-untyped-def]
    return [item["Key"] for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", [])]


def test_frames_of_a_file_in_the_bucket_are_read_by_ranges_and_cached_there(
    s3, login, read_only, study, settings, monkeypatch
):
    frames = 24
    pixels = (np.arange(frames * 256 * 256) % 4096).reshape(frames, 256, 256).astype(np.uint16)
    instance = instance_for(
        dataset(pixels, frames=frames, WindowCenter=2048, WindowWidth=4096),
        series=SeriesFactory(study=study),
    )
    assert instance.file.name in keys(s3)  # stored in the bucket, not under MEDIA_ROOT
    assert not (Path(settings.MEDIA_ROOT) / instance.file.name).exists()

    fetched: list[int] = []
    original = objectfiles.RangedObject.readinto

    def counting(self, buffer):  # type: ignore[no-untyped-def]
        count = original(self, buffer)
        fetched.append(count)
        return count

    monkeypatch.setattr(objectfiles.RangedObject, "readinto", counting)
    url = reverse(
        "dicomweb:frame_rendered",
        kwargs={
            "study": study.study_instance_uid,
            "series": instance.series.series_instance_uid,
            "instance": instance.sop_instance_uid,
            "frame": 13,
        },
    )
    client = login(read_only)
    response = client.get(url, HTTP_ACCEPT="image/png")
    assert response.status_code == 200
    assert response.content.startswith(b"\x89PNG")
    assert 0 < sum(fetched) < instance.file_size / 4  # about one frame (128 KiB), not 3 MiB
    assert any(key.startswith("render-cache/") for key in keys(s3))

    fetched.clear()
    again = client.get(url, HTTP_ACCEPT="image/png")
    assert again.status_code == 200 and again.content == response.content
    assert fetched == []  # from the frame cache in the bucket: the file is not read

    metadata = client.get(
        reverse(
            "dicomweb:instance_metadata",
            kwargs={
                "study": study.study_instance_uid,
                "series": instance.series.series_instance_uid,
                "instance": instance.sop_instance_uid,
            },
        )
    )
    assert metadata.status_code == 200
    assert metadata.json()[0]["00280008"]["Value"] == [frames]


def test_a_missing_object_is_a_clear_error_not_a_500(s3, login, read_only, study):
    instance = instance_for(
        dataset(np.zeros((32, 32), dtype=np.uint16)), series=SeriesFactory(study=study)
    )
    s3.delete_object(Bucket=BUCKET, Key=instance.file.name)
    url = reverse(
        "dicomweb:frame_rendered",
        kwargs={
            "study": study.study_instance_uid,
            "series": instance.series.series_instance_uid,
            "instance": instance.sop_instance_uid,
            "frame": 1,
        },
    )
    response = login(read_only).get(url, HTTP_ACCEPT="image/png")
    assert 400 <= response.status_code < 600 and response.status_code != 500
