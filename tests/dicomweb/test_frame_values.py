"""A frame's stored values for windowing in the browser (/dicomweb/.../frames/N/values):
lossless, compressed, behind the same access check and validators as its image, and bounded
before anything is decoded."""

import gzip
import json

import numpy as np
import pytest
from django.urls import reverse

from studies.models import Instance
from testkit import bombs
from testkit.dicom_files import dataset, decoded, phantom, to_bytes
from tests.bounded import GiB, MiB, bounded
from tests.factories import InstanceFactory, SeriesFactory, WorklistFactory, grant, instance_for

pytestmark = pytest.mark.django_db


def values_url(instance: Instance, frame: int = 1) -> str:
    series = instance.series
    kwargs = {
        "study": series.study.study_instance_uid,
        "series": series.series_instance_uid,
        "instance": instance.sop_instance_uid,
        "frame": frame,
    }
    return reverse("dicomweb:frame_values", kwargs=kwargs)


def rendered_url(instance: Instance, window: str) -> str:
    return values_url(instance).replace("/values", "/rendered") + f"?window={window}"


def unpack(body: bytes) -> tuple[dict, np.ndarray]:
    """What the viewer's script does: inflate, read the JSON line, undo the byte planes and the
    differences along each row."""
    raw = gzip.decompress(body)
    head, _, planes = raw.partition(b"\n")
    header = json.loads(head)
    rows, columns = header["rows"], header["columns"]
    data = np.frombuffer(planes, dtype=np.uint8).reshape(2, rows, columns).astype(np.uint16)
    deltas = data[0] | (data[1] << 8)
    patterns = np.cumsum(deltas, axis=1, dtype=np.uint16)  # mod 2^16, as in the browser
    return header, patterns.view(np.int16) if header["signed"] else patterns


def window_like_the_browser(header: dict, stored: np.ndarray, center: float, width: float):  # type: ignore[no-untyped-def]
    """viewer.js's LUT: modality value, then DICOM's LINEAR window, rounded, inverted for
    MONOCHROME1."""
    values = stored.astype(np.float64) * header["slope"] + header["intercept"]
    scaled = np.clip((values - (center - 0.5)) / (width - 1) + 0.5, 0, 1) * 255
    out = np.floor(scaled + 0.5).astype(np.uint8)
    return 255 - out if header["invert"] else out


@pytest.fixture
def ct(study):  # type: ignore[no-untyped-def]
    """Signed 12-bit CT in Hounsfield units through a rescale."""
    stored = phantom(64, 48, -1000, 1500) + 24
    ds = dataset(stored, bits_stored=12, signed=True, RescaleIntercept=-1024, RescaleSlope=1)
    instance = instance_for(ds, series=SeriesFactory(study=study))
    instance.stored = stored
    return instance


@pytest.fixture
def radiograph(study):  # type: ignore[no-untyped-def]
    """Unsigned 16-bit MONOCHROME1 (shown inverted) with a fractional rescale."""
    stored = phantom(40, 56, 0, 4000)
    ds = dataset(
        stored, photometric="MONOCHROME1", RescaleIntercept=-10, RescaleSlope=0.5, Modality="DX"
    )
    instance = instance_for(ds, series=SeriesFactory(study=study))
    instance.stored = stored
    return instance


@pytest.mark.parametrize("kind", ["ct", "radiograph"])
def test_values_are_the_stored_values_and_window_as_the_server_renders(
    kind, request, login, read_only
):
    instance = request.getfixturevalue(kind)
    client = login(read_only)
    response = client.get(values_url(instance))
    assert response.status_code == 200
    assert response["Content-Encoding"] == "gzip"
    assert response["Content-Type"] == "application/vnd.cimar.frame-values"
    header, stored = unpack(response.content)
    assert np.array_equal(stored, instance.stored)  # lossless
    assert len(response.content) < stored.size * 2  # compressed
    for center, width in [(40, 400), (-600, 1500), (900, 301), (1000, 2000)]:
        server = decoded(client.get(rendered_url(instance, f"{center},{width}")).content)
        browser = window_like_the_browser(header, stored, center, width)
        assert np.abs(server.astype(int) - browser.astype(int)).max() <= 1, (center, width)


def test_values_fit_a_viewport_and_are_never_enlarged(login, read_only, ct):
    client = login(read_only)
    header, stored = unpack(client.get(values_url(ct), {"viewport": "24,100"}).content)
    assert stored.shape == (32, 24) == (header["rows"], header["columns"])
    header, stored = unpack(client.get(values_url(ct), {"viewport": "500,500"}).content)
    assert stored.shape == (64, 48)
    assert client.get(values_url(ct), {"viewport": "0,5"}).status_code == 400


def test_access_is_checked_on_every_request(client, login, ct, organisation):
    from tests.factories import UserFactory

    response = client.get(values_url(ct))
    assert response.status_code == 403 and response.json()["error"] == "session_ended"
    stranger = UserFactory(username="elsewhere", organisation=organisation)
    grant(stranger, WorklistFactory(organisation=organisation), "view_studies")
    assert login(stranger).get(values_url(ct)).status_code == 404


def test_a_guest_revalidates_values_within_the_session(client, ct, monkeypatch):
    from guestlinks import access

    monkeypatch.setattr(access, "guest_study_ids", lambda request: {ct.series.study_id})
    first = client.get(values_url(ct))
    assert first.status_code == 200
    assert first["Cache-Control"] == "private, no-store"
    assert first["Referrer-Policy"] == "no-referrer"
    again = client.get(values_url(ct), HTTP_IF_NONE_MATCH=first["ETag"])
    assert again.status_code == 304 and again.content == b""
    assert again["ETag"] == first["ETag"] and again["Cache-Control"] == "private, no-store"


def test_images_the_browser_cannot_window_are_422_with_the_reason(login, read_only, study):
    rgb = np.zeros((8, 8, 3), dtype=np.uint8)
    colour = instance_for(dataset(rgb, photometric="RGB"), study=study)
    response = login(read_only).get(values_url(colour))
    assert response.status_code == 422
    assert b"not offered for this kind of image" in response.content
    assert login(read_only).get(values_url(colour, 2)).status_code == 404


def test_a_large_declared_frame_is_refused_before_anything_is_decoded(
    login, read_only, study, settings
):
    """4096 x 4096 is within DICOM_MAX_PIXELS but over what is sent to a browser: refused from
    the header, so a file that declares it (and holds only 16 bytes of pixels) costs nothing."""
    ds = dataset(np.zeros((2, 2), dtype=np.uint16))
    ds.Rows = ds.Columns = 4096
    data = to_bytes(ds)
    big = InstanceFactory(
        series=SeriesFactory(study=study),
        rows=4096,
        columns=4096,
        file__data=data,
        file_size=len(data),
    )
    client = login(read_only)

    def fetch():  # type: ignore[no-untyped-def]
        response = client.get(values_url(big))
        return response.status_code, response.content.decode()

    status, reason = bounded(fetch, headroom=256 * MiB).value
    assert status == 422 and "not offered for images this large" in reason


@pytest.mark.parametrize("kind", ["frame count", "RLE", "deflate"])
def test_stored_bombs_are_refused_in_bounded_memory(kind, login, owner, study, settings):
    settings.DICOM_MAX_FILE_SIZE = 64 * MiB
    data = {
        "frame count": bombs.frame_count_bomb,
        "RLE": bombs.rle_bomb,
        "deflate": bombs.deflate_bomb,
    }[kind]()
    rows = {"frame count": {"rows": 8, "columns": 8, "number_of_frames": 2**31 - 1}}
    fields = {"rows": 64, "columns": 64, "number_of_frames": 1, **rows.get(kind, {})}
    bomb = InstanceFactory(
        series=SeriesFactory(study=study), file__data=data, file_size=len(data), **fields
    )
    good = instance_for(dataset(phantom(32, 32, 0, 1000).astype(np.uint16)), study=study)
    client = login(owner)

    def fetch():  # type: ignore[no-untyped-def]
        refused = client.get(values_url(bomb))
        return refused.status_code, client.get(values_url(good)).status_code

    assert bounded(fetch, headroom=GiB).value == (422, 200)
