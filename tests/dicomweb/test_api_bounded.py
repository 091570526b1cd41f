"""WADO-RS and STOW-RS move a large study in bounded memory: retrieval streams each file a
chunk at a time and storing spools each part to disk. Run under a memory limit below the
study's size, so a version that builds the body in memory fails here."""

import numpy as np
import pytest
from pydicom.uid import generate_uid

from dicomweb import stow
from testkit.dicom_files import dataset, to_bytes
from tests.bounded import MiB, bounded
from tests.factories import SeriesFactory, instance_for

pytestmark = pytest.mark.django_db

INSTANCES = 12
SIDE = 2048  # 8 MiB of 16-bit pixels each: 96 MiB in all


def large_files(study_uid: str, series_uid: str) -> list[bytes]:
    pixels = np.random.default_rng(1).integers(0, 4000, (SIDE, SIDE), dtype=np.uint16)
    files = []
    for number in range(INSTANCES):
        ds = dataset(pixels, bits_stored=12, InstanceNumber=number + 1)
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, series_uid
        files.append(to_bytes(ds))
    return files


def test_retrieving_a_large_study_streams_in_bounded_memory(login, read_only, study):
    series = SeriesFactory(study=study)
    files = large_files(study.study_instance_uid, series.series_instance_uid)
    for data in files:
        instance_for(data, series=series)
    total = sum(len(f) for f in files)
    del files
    client = login(read_only)

    def fetch() -> int:
        response = client.get(f"/dicomweb/studies/{study.study_instance_uid}")
        assert response.status_code == 200
        return sum(len(chunk) for chunk in response.streaming_content)

    outcome = bounded(fetch, headroom=64 * MiB)
    assert outcome.value > total  # every file, plus the part headers
    assert outcome.peak_growth < 40 * MiB


def test_storing_a_large_study_spools_each_part_to_disk(tmp_path):
    """The STOW-RS view reads the request through `stow.parts`: here it reads a 96 MiB body
    from a file under a 32 MiB limit, and each part comes out whole."""
    boundary = "large-study"
    body = tmp_path / "body"
    sizes = []
    with open(body, "wb") as out:
        for data in large_files(str(generate_uid()), str(generate_uid())):
            out.write(f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode())
            out.write(data + b"\r\n")
            sizes.append(len(data))
        out.write(f"--{boundary}--\r\n".encode())

    def read_parts() -> list[int]:
        found = []
        with open(body, "rb") as handle:
            for part in stow.parts(handle, boundary, 1 << 30, 1 << 34):
                assert part.body is not None and part.content_type == "application/dicom"
                found.append(part.body.seek(0, 2))
                part.body.close()
        return found

    outcome = bounded(read_parts, headroom=32 * MiB)
    assert outcome.value == sizes
    assert outcome.peak_growth < 16 * MiB
