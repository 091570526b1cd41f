"""Rendering within the limits stays within a memory budget per process: the largest allowed
frame renders in bounded memory, and large frames take turns (RENDER_MAX_CONCURRENT_LARGE)."""

import numpy as np
import pytest
from django.urls import reverse

from dicomweb import frames
from studies import rendering
from studies.rendering import RenderParams
from testkit.dicom_files import dataset, phantom, write
from tests.bounded import GiB, MiB, bounded
from tests.factories import instance_for

LARGEST = 10_000  # 10000 x 10000 = DICOM_MAX_PIXELS by default


def write_largest(path) -> None:  # type: ignore[no-untyped-def]
    """A 10000 x 10000 12-bit CT-like frame (200 MB) with no window of its own, so rendering
    takes the heaviest path: masking the stored bits and finding the range for a window."""
    rows = np.arange(LARGEST, dtype=np.uint16)
    pixels = (rows[:, None] + rows[None, :]) % 4096
    write(dataset(pixels, bits_stored=12, RescaleIntercept=-1024, RescaleSlope=1), path)


def test_the_largest_allowed_frame_renders_within_its_budget(tmp_path):
    path = tmp_path / "largest.dcm"
    bounded(lambda: write_largest(path), headroom=3 * GiB)  # built in a child: memory returns

    def render() -> int:
        return len(rendering.render(str(path), RenderParams(viewport=(2048, 2048))))

    outcome = bounded(render, headroom=700 * MiB)  # it peaked at 1.1 GB before
    assert outcome.value > 1000
    assert outcome.peak_growth < 500 * MiB


def frame_url(instance) -> str:  # type: ignore[no-untyped-def]
    series = instance.series
    return reverse(
        "dicomweb:frame_rendered",
        kwargs={
            "study": series.study.study_instance_uid,
            "series": series.series_instance_uid,
            "instance": instance.sop_instance_uid,
            "frame": 1,
        },
    )


@pytest.mark.django_db
def test_large_frames_take_turns_and_a_busy_server_says_503(
    login, owner, study, settings, monkeypatch
):
    settings.RENDER_MAX_CONCURRENT_LARGE = 1
    monkeypatch.setattr(frames, "LARGE_RENDER_WAIT_SECONDS", 0.1)
    large = instance_for(dataset(phantom(2100, 2100, 0, 255).astype(np.uint8)), study=study)
    small = instance_for(dataset(phantom(32, 32, 0, 255).astype(np.uint8)), study=study)
    client = login(owner)

    with frames.large_render_slot():  # another thread is rendering a large frame
        busy = client.get(frame_url(large))
        unhindered = client.get(frame_url(small))
    assert busy.status_code == 503 and busy["Retry-After"] == "5"
    assert "busy rendering other large images" in busy.content.decode()
    assert unhindered.status_code == 200
    # The slot is free again, and "busy" was not remembered as a refusal.
    assert client.get(frame_url(large))["Content-Type"] == "image/png"
