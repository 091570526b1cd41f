"""Hostile DICOM files, small on disk, that declare (or decode to) far more than they hold.

Each is built here with pydicom, Pillow and hand-written bytes (nothing downloaded). Feed them
to the server only inside tests.bounded.bounded(), under a memory limit.
"""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate
from pydicom.uid import (
    UID,
    DeflatedExplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGLSLossless,
    RLELossless,
)

from testkit.dicom_files import dataset, phantom, to_bytes

HUGE = 20000  # what the codestream inside claims, in a file that says 64 x 64


def frame_count_bomb() -> bytes:
    """About 1 KB: one 8 x 8 frame of pixel data, and Number of Frames 2147483647."""
    ds = dataset(phantom(8, 8, 0, 1000).astype(np.uint16), frames=1)
    ds.NumberOfFrames = 2**31 - 1
    return to_bytes(ds)


def _encapsulated(ds: Dataset, frame: bytes, syntax: str) -> bytes:
    ds.file_meta.TransferSyntaxUID = UID(syntax)
    ds.PixelData = encapsulate([frame])
    ds["PixelData"].VR = "OB"
    return to_bytes(ds)


def _patched(data: bytes, at: int, fmt: str, *values: int) -> bytes:
    out = bytearray(data)
    struct.pack_into(fmt, out, at, *values)
    return bytes(out)


def jpeg_bomb() -> bytes:
    """A 64 x 64 colour JPEG whose frame header (SOF0) says 20000 x 20000: 1.2 GB decoded."""
    from PIL import Image

    rgb = np.dstack([phantom(64, 64, 0, 255).astype(np.uint8)] * 3)
    out = io.BytesIO()
    Image.fromarray(rgb).save(out, "JPEG", quality=90, subsampling=1)
    jpeg = out.getvalue()
    sof = jpeg.index(b"\xff\xc0")
    jpeg = _patched(jpeg, sof + 5, ">HH", HUGE, HUGE)
    ds = dataset(rgb, photometric="YBR_FULL_422")
    return _encapsulated(ds, jpeg, JPEGBaseline8Bit)


def jpeg_ls_bomb() -> bytes:
    """A hand-written JPEG-LS codestream whose SOF55 says 20000 x 20000, in a 64 x 64 file."""
    sof55 = b"\xff\xf7" + struct.pack(">HBHHB", 11, 8, HUGE, HUGE, 1) + b"\x01\x11\x00"
    sos = b"\xff\xda" + struct.pack(">HB", 8, 1) + b"\x01\x00" + b"\x00\x00\x00"
    codestream = b"\xff\xd8" + sof55 + sos + b"\x00" * 64 + b"\xff\xd9"
    ds = dataset(phantom(64, 64, 0, 255).astype(np.uint8))
    return _encapsulated(ds, codestream, JPEGLSLossless)


def j2k_codestream() -> tuple[Dataset, bytes]:
    """A real 64 x 64 16-bit JPEG 2000 codestream (OpenJPEG through pydicom) and its data set."""
    ds = dataset(phantom(64, 64, 0, 1000).astype(np.uint16))
    ds.compress(JPEG2000Lossless)
    frame = next(pydicom.encaps.generate_frames(ds.PixelData, number_of_frames=1))
    return ds, frame


def j2k_bomb() -> bytes:
    """That codestream with its SIZ marker saying 20000 x 20000 in one tile: 1.6 GB in
    OpenJPEG."""
    ds, frame = j2k_codestream()
    siz = frame.index(b"\xff\x51")
    # Xsiz, Ysiz, XOsiz, YOsiz, XTsiz, YTsiz
    frame = _patched(frame, siz + 6, ">IIIIII", HUGE, HUGE, 0, 0, HUGE, HUGE)
    return _encapsulated(ds, frame, JPEG2000Lossless)


def jp2(codestream: bytes, *, rows: int, columns: int) -> bytes:
    """A JP2 file around a codestream, its image header box saying rows x columns."""

    def box(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", 8 + len(payload)) + kind + payload

    ihdr = box(b"ihdr", struct.pack(">IIHBBBB", rows, columns, 1, 15, 7, 0, 0))
    colr = box(b"colr", struct.pack(">BBBI", 1, 0, 0, 17))
    return (
        box(b"jP  ", b"\r\n\x87\n")
        + box(b"ftyp", b"jp2 " + b"\0\0\0\0" + b"jp2 ")
        + box(b"jp2h", ihdr + colr)
        + box(b"jp2c", codestream)
    )


def rle_bomb(size: int = 16 * 1024**2) -> bytes:
    """A 64 x 64 8-bit RLE file whose one segment is `size` bytes of two-byte runs of 128:
    64 times its size decoded (1 GB for 16 MB) by a decoder that does not count."""
    header = struct.pack("<16I", 1, 64, *([0] * 14))
    ds = dataset(phantom(64, 64, 0, 255).astype(np.uint8))
    return _encapsulated(ds, header + b"\x81\x00" * (size // 2), RLELossless)


def deflate_bomb(inflated: int = 1024**3) -> bytes:
    """A deflated data set of about 1 MB that inflates to `inflated` bytes (of pixel data)."""
    rows = columns = 64
    frames = inflated // (rows * columns * 2)
    ds = dataset(np.zeros((rows, columns), np.uint16), frames=frames)
    del ds.PixelData
    plain = to_bytes(ds)  # Explicit VR Little Endian, no pixel data yet
    ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    meta = to_bytes(ds)
    meta = meta[: _data_set_start(meta)]  # preamble and file meta (never deflated)
    length = frames * rows * columns * 2
    pixel_header = b"\xe0\x7f\x10\x00OW\x00\x00" + struct.pack("<I", length)
    deflater = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    head = deflater.compress(plain[_data_set_start(plain) :] + pixel_header)
    # After a full flush the deflater starts afresh, so 1 MB of zeros deflates to the same
    # bytes every time: deflate it once and repeat them (seconds saved per build).
    head += deflater.flush(zlib.Z_FULL_FLUSH)
    zeros = bytes(1024 * 1024)
    megabyte = deflater.compress(zeros) + deflater.flush(zlib.Z_FULL_FLUSH)
    tail = deflater.compress(bytes(length % len(zeros))) + deflater.flush()
    return meta + head + megabyte * (length // len(zeros)) + tail


def _data_set_start(data: bytes) -> int:
    """Where the data set starts after the file meta (group 0002) of an explicit VR file."""
    position = 132
    while data[position : position + 2] == b"\x02\x00":
        vr = data[position + 4 : position + 6]
        if vr in (b"OB", b"OW", b"UN", b"SQ", b"UT"):
            position += 12 + struct.unpack_from("<I", data, position + 8)[0]
        else:
            position += 8 + struct.unpack_from("<H", data, position + 6)[0]
    return position
