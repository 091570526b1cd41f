"""Every image file bundled with pydicom, through the real ingest service and the real
rendering path: what pydicom decodes is stored and rendered; the rest is refused with a reason.

pydicom's test files are the odd corners of real archives (big endian, deflate, implicit VR
under an explicit-VR transfer syntax, palette colour, YBR, 32-bit, RLE, JPEG-LS, JPEG 2000,
multi-frame) plus a few deliberately broken ones. Only the files installed with pydicom are
used: nothing is downloaded. Whether pydicom itself decodes a file is decided by pydicom, in a
child process under a memory limit, not by a list written here.
"""

from __future__ import annotations

import io
import json
import resource
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pydicom
import pytest
from django.urls import reverse
from PIL import Image
from pydicom.data.data_manager import DATA_ROOT
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset, write_file_meta_info
from pydicom.uid import UID, ImplicitVRLittleEndian

from studies import rendering
from studies.dicom import parse_dicom
from studies.models import Instance, Study
from studies.rendering import RenderParams
from studies.services import study_ingest
from testkit.dicom_files import dataset, jpeg_baseline, phantom, to_bytes
from tests.studies.ingest_helpers import stored_files

pytestmark = pytest.mark.django_db

TEST_FILES = Path(DATA_ROOT) / "test_files"
PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")
IDENTIFYING_UIDS = (
    ("StudyInstanceUID", "Study Instance UID"),
    ("SeriesInstanceUID", "Series Instance UID"),
    ("SOPInstanceUID", "SOP Instance UID"),
)
# Address space allowed on top of what the process already maps: every file here is under
# 400 KB, so a decoder that asks for more is a regression, and it fails instead of swapping.
MEMORY_HEADROOM = 768 * 1024**2
CHILD_MEMORY_LIMIT = 1536 * 1024**2  # the whole child: interpreter, numpy, decoders, one file


def _header(path: Path) -> pydicom.Dataset | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the odd files are why they are here
            return pydicom.dcmread(path, force=True, defer_size=256)
    except Exception:  # README.txt, JSON, an ICC profile, a gzip: not DICOM at all
        return None


def _image_files() -> list[str]:
    """Installed pydicom test files with pixel data, as paths relative to TEST_FILES."""
    names = []
    for path in sorted(p for p in TEST_FILES.rglob("*") if p.is_file()):
        ds = _header(path)
        if ds is not None and any(keyword in ds for keyword in PIXEL_KEYWORDS):
            names.append(path.relative_to(TEST_FILES).as_posix())
    return names


IMAGE_FILES = _image_files()

# Run in a child process: pydicom's own verdict on each file, with its address space capped.
_DECODE_SCRIPT = """
import json, resource, sys, warnings
limit = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
warnings.simplefilter("ignore")
import pydicom
verdicts = {}
for path in sys.argv[2:]:
    try:
        pydicom.dcmread(path).pixel_array
        verdicts[path] = None
    except Exception as error:
        verdicts[path] = f"{error.__class__.__name__}: {error}"[:300]
print(json.dumps(verdicts))
"""


@pytest.fixture(scope="module")
def pydicom_verdicts() -> dict[str, str | None]:
    """For each image file: None if `ds.pixel_array` succeeds, else pydicom's error."""
    result = subprocess.run(  # noqa: S603 (our interpreter, our script, files we listed)
        [sys.executable, "-c", _DECODE_SCRIPT, str(CHILD_MEMORY_LIMIT), *IMAGE_FILES],
        cwd=TEST_FILES,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(result.stdout)


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):  # type: ignore[no-untyped-def]
    """The owner logs in with force_login: a slow hash per file would only slow CI down."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _mapped_bytes() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("VmSize not found in /proc/self/status")


@pytest.fixture
def memory_limit() -> Iterator[None]:
    """Cap this process's address space for the test (the soft limit; restored afterwards)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = _mapped_bytes() + MEMORY_HEADROOM
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def _png(data: bytes) -> np.ndarray:
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG"
    image.load()
    return np.asarray(image)


def _assert_shows_what_pydicom_decodes(path: Path, shown: np.ndarray) -> None:
    """Frame 1 as rendered against pydicom's own decoding of it: the size, and the colours
    exactly (RGB, YBR and palette), or for grey images the order of the values (a byte-order,
    sign or bit-depth mistake scrambles it; the window itself is tested elsewhere)."""
    ds = pydicom.dcmread(path)
    assert shown.shape[:2] == (ds.Rows, ds.Columns)
    decoded = ds.pixel_array
    frame = decoded[0] if int(ds.get("NumberOfFrames", 1) or 1) > 1 else decoded
    photometric = ds.PhotometricInterpretation
    if photometric == "PALETTE COLOR":
        rgb = pydicom.pixels.apply_color_lut(frame, ds)
        top = 255 if rgb.dtype == np.uint8 else 65535
        expected = np.rint(rgb.astype(np.float64) * 255 / top)
    elif frame.ndim == 3:  # colour, converted to RGB by pydicom; shown as its top 8 bits
        expected = frame.astype(np.int64) >> max(int(ds.BitsStored) - 8, 0)
    else:
        values = frame.astype(np.float64) * float(ds.get("RescaleSlope", 1) or 1)
        grey = shown.ravel()[np.argsort(values.ravel(), kind="stable")].astype(np.int64)
        steps = np.diff(grey)
        assert np.all(steps <= 0 if photometric == "MONOCHROME1" else steps >= 0)
        return
    assert shown.shape == expected.shape
    assert int(np.abs(shown.astype(np.int64) - expected).max()) <= 1


def _missing_uid(path: Path) -> str | None:
    ds = pydicom.dcmread(path, stop_before_pixels=True, force=True)
    for keyword, label in IDENTIFYING_UIDS:
        if not str(ds.get(keyword, "") or "").strip():
            return label
    return None


def _ingest(owner, worklist, name: str):  # type: ignore[no-untyped-def]
    with open(TEST_FILES / name, "rb") as handle:
        return study_ingest(actor=owner, worklist=worklist, files=[(name, handle)])


def _rendered_frame(client, instance: Instance):  # type: ignore[no-untyped-def]
    """Frame 1 through DICOMweb, as the viewer asks for it."""
    series = instance.series
    kwargs = {
        "study": series.study.study_instance_uid,
        "series": series.series_instance_uid,
        "instance": instance.sop_instance_uid,
        "frame": 1,
    }
    return client.get(reverse("dicomweb:frame_rendered", kwargs=kwargs), HTTP_ACCEPT="image/png")


def _assert_nothing_stored(media_root: Path) -> None:
    assert not Study.objects.exists()
    assert not Instance.objects.exists()
    assert stored_files(media_root) == []


def test_the_installed_test_data_covers_the_hard_cases():
    """The point of this file is lost if the wheel stops shipping its odd images."""
    for name in (
        "SC_rgb_jpeg.dcm",  # explicit-VR transfer syntax, data set written implicit VR
        "MR_small_bigendian.dcm",
        "image_dfl.dcm",  # deflated
        "examples_palette.dcm",
        "SC_ybr_full_422_uncompressed.dcm",
        "examples_ybr_color.dcm",  # multi-frame
        "rtdose.dcm",  # 32-bit
        "MR_small_RLE.dcm",
        "MR_small_jpeg_ls_lossless.dcm",
        "examples_jpeg2k.dcm",
    ):
        assert name in IMAGE_FILES


@pytest.mark.parametrize("name", IMAGE_FILES)
def test_bundled_image_is_stored_and_rendered_or_refused_with_a_reason(
    name, pydicom_verdicts, owner, worklist, login, settings, memory_limit
):
    path = TEST_FILES / name
    pydicom_decodes = pydicom_verdicts[name] is None
    missing_uid = _missing_uid(path)
    report = _ingest(owner, worklist, name)

    if missing_uid is not None:
        # Not a storable instance: no study or series to file it under, whatever its pixels.
        assert report.rejected == [(name, f"The file has no {missing_uid}.")]
        _assert_nothing_stored(settings.MEDIA_ROOT)
        if pydicom_decodes:  # the rendering path itself still shows it
            shown = _png(rendering.render(str(path), RenderParams()))
            _assert_shows_what_pydicom_decodes(path, shown)
        return

    if pydicom_decodes:
        assert report.rejected == [], report.rejected
        assert report.imported == 1
        instance = Instance.objects.select_related("series__study").get()
        response = _rendered_frame(login(owner), instance)
        assert response.status_code == 200, response.content[:300]
        _assert_shows_what_pydicom_decodes(path, _png(response.content))
        return

    # pydicom cannot decode it: refused at ingest with a reason and nothing left behind, or
    # (a well-formed file whose pixels no decoder here reads) stored, and its image answers
    # with the reason instead of a picture, as the viewer shows it.
    if report.rejected:
        [(rejected, reason)] = report.rejected
        assert rejected == name
        assert reason.endswith(".") and len(reason) > 15
        _assert_nothing_stored(settings.MEDIA_ROOT)
        return
    assert report.imported == 1
    response = _rendered_frame(login(owner), Instance.objects.select_related("series__study").get())
    assert response.status_code == 422
    assert response["Content-Type"].startswith("text/plain")
    assert len(response.content.decode()) > 15


# --- The same quirk, made here, both ways ---------------------------------------------------


def _written_against_its_syntax(ds: pydicom.Dataset) -> bytes:
    """The file of `ds` with its data set in the other VR encoding than its transfer syntax
    declares (implicit under an explicit syntax, or explicit under the implicit one)."""
    file_meta = pydicom.dcmread(io.BytesIO(to_bytes(ds))).file_meta  # completed by pydicom
    meta = DicomBytesIO()
    meta.is_little_endian, meta.is_implicit_VR = True, False
    write_file_meta_info(meta, file_meta, enforce_standard=True)
    body = DicomBytesIO()
    body.is_little_endian = True
    body.is_implicit_VR = not UID(file_meta.TransferSyntaxUID).is_implicit_VR
    write_dataset(body, ds)
    return b"\0" * 128 + b"DICM" + meta.getvalue() + body.getvalue()


def _colour_ramp() -> np.ndarray:
    ramp = np.arange(48 * 64).reshape(48, 64)
    return np.dstack([ramp % 256, 255 - ramp % 256, ramp // 13 % 256]).astype(np.uint8)


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(
            lambda: jpeg_baseline(_colour_ramp(), photometric="YBR_FULL_422"),
            id="jpeg-explicit-syntax-implicit-data",
        ),
        pytest.param(
            lambda: dataset(_colour_ramp(), photometric="RGB"),
            id="rgb-explicit-syntax-implicit-data",
        ),
        pytest.param(
            lambda: dataset(_colour_ramp(), photometric="RGB", syntax=ImplicitVRLittleEndian),
            id="rgb-implicit-syntax-explicit-data",
        ),
        pytest.param(
            lambda: dataset(phantom() + 1000, bits_stored=12),
            id="grey-explicit-syntax-implicit-data",
        ),
    ],
)
def test_a_data_set_encoded_unlike_its_transfer_syntax_is_read_and_rendered(make, memory_limit):
    ds = make()
    proper, quirky = to_bytes(ds), _written_against_its_syntax(ds)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom says it found the other encoding
        decoded = pydicom.dcmread(io.BytesIO(quirky)).pixel_array
        assert decoded.shape[:2] == (ds.Rows, ds.Columns)
        parsed = parse_dicom(io.BytesIO(quirky))
        assert (parsed.rows, parsed.columns) == (ds.Rows, ds.Columns)
        assert parsed.sop_instance_uid == ds.SOPInstanceUID
        expected = rendering.render(proper, RenderParams())
        assert rendering.render(quirky, RenderParams()) == expected
