"""The sizes compressed frames declare in their own headers (studies/codestreams.py), and the
ingest checks built on them (studies/limits.py through parse_dicom). Pure: files alone."""

import io
import struct

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.encaps import encapsulate
from pydicom.uid import (
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGLSLossless,
    RLELossless,
)

from studies import codestreams
from studies.codestreams import NeedMore, Refused, check_frame, rle_decoded_length
from studies.dicom import DicomRejected, parse_dicom
from testkit import bombs
from testkit.dicom_files import dataset, phantom, to_bytes


def jpeg(pixels: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "JPEG", quality=90, dpi=(72, 72))  # with a JFIF APP0
    return out.getvalue()


def shape(data: bytes, syntax: str, rows: int, columns: int, samples: int = 1, bits: int = 8):
    return check_frame(
        data, syntax, rows=rows, columns=columns, samples=samples, bits_allocated=bits
    )


def test_a_jpeg_frame_header_is_read_past_its_application_segments():
    data = jpeg(phantom(40, 30, 0, 255).astype(np.uint8))
    assert codestreams.jpeg_header(data) == codestreams.Header(40, 30, 1, 8)
    shape(data, JPEGBaseline8Bit, 40, 30)
    with pytest.raises(Refused, match="is 30 x 40 pixels, but the file says 40 x 30"):
        shape(data, JPEGBaseline8Bit, 30, 40)
    with pytest.raises(NeedMore):
        codestreams.jpeg_header(data[:20])
    with pytest.raises(Refused, match="does not start with a JPEG codestream"):
        shape(b"\x00" * 100, JPEGBaseline8Bit, 40, 30)


def test_colour_components_must_match_samples_per_pixel():
    rgb = np.dstack([phantom(16, 16, 0, 255).astype(np.uint8)] * 3)
    with pytest.raises(Refused, match="has 3 colour components, but the file says 1"):
        shape(jpeg(rgb), JPEGBaseline8Bit, 16, 16, samples=1)
    shape(jpeg(rgb), JPEGBaseline8Bit, 16, 16, samples=3)


def test_a_jpeg_ls_frame_header_sof55():
    data = bombs.jpeg_ls_bomb()
    frame = next(pydicom.encaps.generate_frames(pydicom.dcmread(io.BytesIO(data)).PixelData))
    assert codestreams.jpeg_header(frame) == codestreams.Header(20000, 20000, 1, 8)
    with pytest.raises(Refused, match="20000 x 20000"):
        shape(frame, JPEGLSLossless, 64, 64)


def test_jpeg_2000_codestream_and_jp2_file():
    _, frame = bombs.j2k_codestream()
    assert codestreams.j2k_header(frame) == codestreams.Header(64, 64, 1, 16)
    shape(frame, JPEG2000Lossless, 64, 64, bits=16)
    assert codestreams.j2k_header(bombs.jp2(frame, rows=64, columns=64)).rows == 64
    with pytest.raises(Refused, match="image header disagrees with its codestream"):
        codestreams.j2k_header(bombs.jp2(frame, rows=20000, columns=20000))
    with pytest.raises(NeedMore):
        codestreams.j2k_header(frame[:30])


def test_rle_segments_are_measured_without_decoding():
    header_only = struct.pack("<16I", 1, 64, *([0] * 14))
    # One plane of 16 x 16 = 256 bytes: two runs of 128, then a padding byte.
    exact = b"\x81\x07\x81\x07\x00"
    assert rle_decoded_length(exact, 256) == 256
    shape(header_only + exact, RLELossless, 16, 16)
    assert rle_decoded_length(b"\x81\x00" * 256, 256) == 257  # stopped just past the limit
    # A 1024 x 1024 plane (1 MiB): a 2 MiB segment is within twice the plane, yet decodes to
    # 128 MiB, past what is decoded unmeasured: refused without decoding.
    bomb = b"\x81\x00" * (1024 * 1024)
    assert 64 * len(bomb) > codestreams.RLE_UNMEASURED_BYTES
    with pytest.raises(Refused, match="decodes to more pixels than the image has"):
        shape(header_only + bomb, RLELossless, 1024, 1024)
    with pytest.raises(Refused, match="2 segments where the file's image needs 1"):
        shape(struct.pack("<16I", 2, 64, 70, *([0] * 13)) + exact * 2, RLELossless, 16, 16)
    with pytest.raises(Refused, match="a segment longer than its image allows"):
        shape(header_only + b"\x81\x00" * 258, RLELossless, 16, 16)


def test_pydicoms_own_rle_passes():
    ds = dataset(phantom(48, 40, 0, 3000).astype(np.uint16))
    ds.compress(RLELossless)
    frame = next(pydicom.encaps.generate_frames(ds.PixelData, number_of_frames=1))
    shape(frame, RLELossless, 48, 40, bits=16)


# --- At ingest: the pixel data a file really holds -------------------------------------------


def reason(data: bytes) -> str:
    with pytest.raises(DicomRejected) as caught:
        parse_dicom(io.BytesIO(data))
    return caught.value.reason


@pytest.mark.django_db
def test_native_pixel_data_must_hold_every_declared_frame():
    ds = dataset(np.stack([phantom(8, 8, 0, 1000).astype(np.uint16)] * 2))
    ds.NumberOfFrames = 3
    assert reason(to_bytes(ds)) == (
        "The file declares 3 frames of 8 x 8 pixels, but its pixel data holds 256 bytes, "
        "enough for 2."
    )
    ds.NumberOfFrames = 2
    assert parse_dicom(io.BytesIO(to_bytes(ds))).number_of_frames == 2


@pytest.mark.django_db
def test_native_ybr_full_422_holds_two_samples_a_pixel():
    ybr = dataset(np.zeros((4, 4, 3), np.uint8), photometric="YBR_FULL_422")
    ybr.PixelData = bytes(4 * 4 * 2)  # 4:2:2 as stored
    assert parse_dicom(io.BytesIO(to_bytes(ybr))).rows == 4
    ybr.PixelData = bytes(4 * 4 * 2 - 2)
    assert "enough for 0" in reason(to_bytes(ybr))


@pytest.mark.django_db
def test_encapsulated_pixel_data_needs_a_codestream_per_declared_frame():
    frame = jpeg(phantom(16, 16, 0, 255).astype(np.uint8))
    ds = dataset(phantom(16, 16, 0, 255).astype(np.uint8), syntax=JPEGBaseline8Bit)
    ds.PixelData = encapsulate([frame, frame])
    ds["PixelData"].VR = "OB"
    ds.NumberOfFrames = 2
    assert parse_dicom(io.BytesIO(to_bytes(ds))).number_of_frames == 2
    ds.NumberOfFrames = 3
    assert reason(to_bytes(ds)) == (
        "The pixel data's offset table lists 2 frames, but the file declares 3."
    )
    ds.PixelData = encapsulate([frame, frame], has_bot=False)
    assert reason(to_bytes(ds)) == "The file declares 3 frames, but its pixel data holds 2."


@pytest.mark.django_db
def test_frame_size_limits_apply_at_ingest(settings):
    settings.DICOM_MAX_PIXELS = 1000
    ds = dataset(phantom(40, 30, 0, 1000).astype(np.uint16))
    assert reason(to_bytes(ds)) == (
        "The image is too large (30 x 40 pixels; the limit is 1,000 samples per frame)."
    )
