"""Small hostile files that declare, or decode to, far more than they hold (issue 8, item 2).

Each is refused at upload with its reason, and a copy stored before these checks existed is
refused at render time with a 422 whose refusal is cached; all of it runs in a forked child
under a memory limit (tests.bounded), and the same process then serves a normal image.
"""

from __future__ import annotations

import html
import json
import os
import re

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from dicomweb import frames
from studies.models import Instance
from testkit import bombs
from testkit.dicom_files import dataset, phantom, to_bytes
from tests.bounded import GiB, MiB, bounded
from tests.factories import InstanceFactory, SeriesFactory, instance_for
from tests.studies.ingest_helpers import stored_files

pytestmark = pytest.mark.django_db

BOMBS = {
    "frame count": bombs.frame_count_bomb,
    "JPEG": bombs.jpeg_bomb,
    "JPEG-LS": bombs.jpeg_ls_bomb,
    "JPEG 2000": bombs.j2k_bomb,
    "RLE": bombs.rle_bomb,
    "deflate": bombs.deflate_bomb,
}
REASONS = {
    "frame count": "The image has 2,147,483,647 frames; the limit is 10,000.",
    "JPEG": "The JPEG image inside the file is 20000 x 20000 pixels, but the file says 64 x 64",
    "JPEG-LS": "The JPEG image inside the file is 20000 x 20000 pixels, but the file says 64 x 64",
    "JPEG 2000": "The JPEG 2000 image inside the file is 20000 x 20000 pixels, but the file says",
    "RLE": "The RLE data of a frame has a segment longer than its image allows.",
    "deflate": "The file inflates to more than 64.0 MB, the limit.",
}
# What each bomb's row says (as ingest would have stored it before the checks).
ROWS: dict[str, dict[str, object]] = {
    "frame count": {"rows": 8, "columns": 8, "number_of_frames": 2**31 - 1},
    "JPEG": {"rows": 64, "columns": 64, "photometric_interpretation": "YBR_FULL_422"},
    "deflate": {"rows": 64, "columns": 64, "number_of_frames": 131072},
}


@pytest.fixture(autouse=True)
def _limits(settings):
    settings.DICOM_MAX_FILE_SIZE = 64 * MiB  # the deflated bomb inflates to 1 GB
    settings.DICOM_MAX_PIXELS = 100_000_000
    settings.DICOM_MAX_FRAMES = 10_000


@pytest.fixture(scope="module")
def built():
    """Each bomb built once (the RLE one is 16 MB, the deflated one 1 MB)."""
    cache: dict[str, bytes] = {}

    def get(kind: str) -> bytes:
        if kind not in cache:
            cache[kind] = BOMBS[kind]()
        return cache[kind]

    return get


def good_file() -> bytes:
    return to_bytes(dataset(phantom(32, 32, 0, 1000).astype(np.uint16)))


def frame_url(instance: Instance, frame: int = 1) -> str:
    series = instance.series
    return reverse(
        "dicomweb:frame_rendered",
        kwargs={
            "study": series.study.study_instance_uid,
            "series": series.series_instance_uid,
            "instance": instance.sop_instance_uid,
            "frame": frame,
        },
    )


@pytest.mark.parametrize("kind", BOMBS)
def test_upload_refuses_the_bomb_in_bounded_memory_and_keeps_serving(
    kind, built, login, member, worklist, settings, django_capture_on_commit_callbacks
):
    client = login(member)
    bomb, good = built(kind), good_file()

    def upload():
        with django_capture_on_commit_callbacks(execute=True):  # pre-rendering runs too
            response = client.post(
                reverse("studies:upload", args=[worklist.public_id]),
                {
                    "dicom_files": [
                        SimpleUploadedFile("bomb.dcm", bomb),
                        SimpleUploadedFile("good.dcm", good),
                    ]
                },
            )
        stored = Instance.objects.select_related("series__study").get()
        image = client.get(frame_url(stored))
        return {
            "status": response.status_code,
            "page": html.unescape(response.content.decode()),
            "instances": Instance.objects.count(),
            "files": len(stored_files(settings.MEDIA_ROOT)),
            "image": (image.status_code, image["Content-Type"]),
        }

    outcome = bounded(upload, headroom=GiB)
    result = outcome.value
    assert result["status"] == 200
    assert '<span class="badge ok">1</span> imported' in result["page"]
    rejected = re.search(r"bomb\.dcm</td><td[^>]*>([^<]*)<", result["page"])
    assert rejected is not None and REASONS[kind] in rejected.group(1)
    assert (result["instances"], result["files"]) == (1, 1)  # only the good file
    assert result["image"] == (200, "image/png")


def stored_bomb(kind: str, data: bytes, study):  # type: ignore[no-untyped-def]
    """The bomb as a stored instance, as if ingested before these checks existed (its row
    written directly: reading it to fill the row would be the very danger)."""
    fields = {"rows": 64, "columns": 64, "number_of_frames": 1, **ROWS.get(kind, {})}
    return InstanceFactory(
        series=SeriesFactory(study=study), file__data=data, file_size=len(data), **fields
    )


@pytest.mark.parametrize("kind", BOMBS)
def test_rendering_refuses_a_stored_bomb_once_and_remembers(kind, built, login, owner, study):
    bomb = stored_bomb(kind, built(kind), study)
    good = instance_for(dataset(phantom(32, 32, 0, 1000).astype(np.uint16)), study=study)
    client = login(owner)

    def view():
        first = client.get(frame_url(bomb))
        # The file is gone: a second answer that is the same refusal came from the cache.
        os.remove(bomb.file.path)
        again = client.get(frame_url(bomb))
        image = client.get(frame_url(good))
        return [
            (first.status_code, first.content.decode()),
            (again.status_code, again.content.decode()),
            (image.status_code, image["Content-Type"]),
        ]

    first, again, image = bounded(view, headroom=GiB).value
    assert first[0] == 422 and REASONS[kind].split(" 64 x 64")[0] in first[1]
    assert again == first
    assert image == (200, "image/png")


def test_prerendering_and_the_viewer_never_expand_a_declared_frame_count(
    built, login, owner, study, worklist
):
    bomb = stored_bomb("frame count", built("frame count"), study)
    client = login(owner)

    def open_study():
        report = frames.study_prerender(study=study)
        page = client.get(reverse("studies:viewer", args=[study.public_id]))
        data = re.search(
            r'<script id="viewer-data" type="application/json">(.*?)</script>',
            page.content.decode(),
            re.S,
        )
        assert data is not None
        series = json.loads(data.group(1))["studies"][0]["series"]
        declared = [i[1] for s in series for i in s["instances"] if i[0] == bomb.sop_instance_uid]
        return report.frames, report.failed, page.status_code, declared

    rendered, failed, status, declared = bounded(open_study, headroom=GiB).value
    assert (rendered, failed) == (0, 1)
    assert status == 200
    assert declared == [10_000]  # what an instance may have, not what the row says


def test_the_metadata_of_a_stored_deflate_bomb_is_refused_in_bounded_memory(
    built, login, owner, study
):
    bomb = stored_bomb("deflate", built("deflate"), study)
    series = bomb.series
    url = reverse(
        "dicomweb:instance_metadata",
        kwargs={
            "study": series.study.study_instance_uid,
            "series": series.series_instance_uid,
            "instance": bomb.sop_instance_uid,
        },
    )
    client = login(owner)

    def metadata():
        response = client.get(url)
        return response.status_code, response.content.decode()

    assert bounded(metadata, headroom=GiB).value == (422, REASONS["deflate"] + "\n")
