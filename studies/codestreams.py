"""The sizes a compressed frame declares in its own header, read before anything is decoded.

A pure module (no ORM, no settings). A DICOM file says Rows x Columns x Samples per Pixel, but
a decoder allocates what the codestream inside says: a JPEG whose frame header (SOF) declares
20000 x 20000 inside a file that says 64 x 64 would make the decoder allocate gigabytes. So
every frame's own header is read (a few hundred bytes) and must agree with the file's before
the frame goes near a decoder:

- JPEG (baseline, extended, lossless) and JPEG-LS: the SOFn / SOF55 marker segment;
- JPEG 2000 and HTJ2K: the SIZ marker segment of the codestream, and in a JP2 file also the
  image header box (`ihdr`);
- RLE: the segment table (one segment per byte of each sample, none longer than twice its
  plane) and, when the whole frame is at hand and a segment could decode to more than
  RLE_UNMEASURED_BYTES, the length it decodes to, counted without decoding it (a PackBits run of
  two bytes can expand to 128, so a segment could otherwise decode to 64 times its size).

`check_frame` raises `Refused` with a reason a person can act on; `NeedMore` means the bytes
given end before the header does (the caller may read more and try again).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from pydicom.uid import (
    JPEG2000TransferSyntaxes,
    JPEGLSTransferSyntaxes,
    JPEGTransferSyntaxes,
    RLELossless,
)

__all__ = ["CODESTREAM_SYNTAXES", "NeedMore", "Refused", "check_frame", "looks_like_frame_start"]

JPEG_FAMILY = frozenset(str(uid) for uid in (*JPEGTransferSyntaxes, *JPEGLSTransferSyntaxes))
J2K_FAMILY = frozenset(str(uid) for uid in JPEG2000TransferSyntaxes)
RLE = str(RLELossless)
CODESTREAM_SYNTAXES = JPEG_FAMILY | J2K_FAMILY | {RLE}

# Start-of-frame markers: SOF0-3, 5-7, 9-11, 13-15 (C4 is DHT, C8 JPG, CC DAC) and SOF55 (FF F7,
# JPEG-LS). Scans (SOS) and the end of image come after the frame header, never before.
_SOF = frozenset({*range(0xC0, 0xD0)} - {0xC4, 0xC8, 0xCC} | {0xF7})
_SOS, _EOI = 0xDA, 0xD9
_STANDALONE = frozenset({0x01, 0xD8, *range(0xD0, 0xD8)})
_J2K_START = b"\xff\x4f\xff\x51"  # SOC then SIZ
_JP2_SIGNATURE = b"\x00\x00\x00\x0cjP  \r\n\x87\n"
_RLE_HEADER = 64
# A PackBits segment decodes to at most 64 times its length (two bytes, 128 repeats), so one
# whose worst case stays under this is decoded without being measured first (the decoder then
# checks its length); larger ones are measured, which costs about as much as decoding in Python.
RLE_UNMEASURED_BYTES = 64 * 1024 * 1024


class Refused(Exception):
    """The frame cannot be decoded safely; `reason` says why, in words for a person."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class NeedMore(Exception):
    """The bytes given end before the header does."""


@dataclass(frozen=True)
class Header:
    rows: int
    columns: int
    components: int
    precision: int


def looks_like_frame_start(data: bytes, syntax: str) -> bool:
    """Whether `data` begins a codestream of this transfer syntax (SOI, SOC or a JP2 file)."""
    if syntax in JPEG_FAMILY:
        return data[:2] == b"\xff\xd8"
    if syntax in J2K_FAMILY:
        return data[:4] == _J2K_START or data[:12] == _JP2_SIGNATURE
    return syntax == RLE


def check_frame(
    data: bytes,
    syntax: str,
    *,
    rows: int,
    columns: int,
    samples: int,
    bits_allocated: int,
    length: int | None = None,
) -> None:
    """Refuse a frame whose own header disagrees with the file's Rows, Columns and Samples.

    `data` is the whole frame, or only its first bytes when `length` (the frame's full length)
    is given; with the whole frame an RLE frame's segments are also measured. Other transfer
    syntaxes are left alone.
    """
    if syntax in JPEG_FAMILY:
        _agree(jpeg_header(data), rows, columns, samples, bits_allocated, "JPEG")
    elif syntax in J2K_FAMILY:
        _agree(j2k_header(data), rows, columns, samples, bits_allocated, "JPEG 2000")
    elif syntax == RLE:
        _check_rle(data, rows, columns, samples, bits_allocated, length)


def _agree(
    header: Header, rows: int, columns: int, samples: int, bits_allocated: int, kind: str
) -> None:
    if (header.rows, header.columns) != (rows, columns):
        raise Refused(
            f"The {kind} image inside the file is {header.columns} x {header.rows} pixels, "
            f"but the file says {columns} x {rows}; it is not decoded."
        )
    if header.components != samples:
        raise Refused(
            f"The {kind} image inside the file has {header.components} colour components, "
            f"but the file says {samples}; it is not decoded."
        )
    if not 1 <= header.precision <= max(bits_allocated, 8):
        raise Refused(
            f"The {kind} image inside the file has {header.precision} bits per sample, "
            f"more than the file's {bits_allocated}; it is not decoded."
        )


# --- JPEG and JPEG-LS -------------------------------------------------------------------------


def jpeg_header(data: bytes) -> Header:
    """The frame header (SOFn or SOF55) of a JPEG or JPEG-LS codestream."""
    if len(data) < 2:
        raise NeedMore
    if data[:2] != b"\xff\xd8":
        raise Refused("The JPEG data of a frame does not start with a JPEG codestream.")
    position = 2
    while True:
        if position + 2 > len(data):
            raise NeedMore
        if data[position] != 0xFF:
            raise Refused("The JPEG data of a frame is damaged (a marker was expected).")
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte
            position += 1
            continue
        if marker in _STANDALONE:
            position += 2
            continue
        if marker in (_SOS, _EOI):
            raise Refused("The JPEG data of a frame has no frame header before its image data.")
        if position + 4 > len(data):
            raise NeedMore
        (length,) = struct.unpack_from(">H", data, position + 2)
        if length < 2:
            raise Refused("The JPEG data of a frame is damaged (a marker length is invalid).")
        if marker in _SOF:
            if position + 10 > len(data):
                raise NeedMore
            precision, height, width, components = struct.unpack_from(">BHHB", data, position + 4)
            return Header(height, width, components, precision)
        position += 2 + length


# --- JPEG 2000 --------------------------------------------------------------------------------


def j2k_header(data: bytes) -> Header:
    """The image size of a JPEG 2000 codestream (SIZ), or of a JP2 file (ihdr and SIZ)."""
    if len(data) < 12:
        raise NeedMore
    if data[:4] == _J2K_START:
        return _siz(data)
    if data[:12] != _JP2_SIGNATURE:
        raise Refused("The JPEG 2000 data of a frame does not start with a codestream.")
    image_header: Header | None = None
    position = 0
    while True:
        kind, start, end = _box(data, position)
        if kind == b"jp2h":
            inner = start
            while inner < end:
                inner_kind, inner_start, inner_end = _box(data, inner)
                if inner_kind == b"ihdr":
                    if inner_start + 11 > len(data):
                        raise NeedMore
                    height, width, components, depth = struct.unpack_from(
                        ">IIHB", data, inner_start
                    )
                    image_header = Header(height, width, components, (depth & 0x7F) + 1)
                inner = inner_end
        elif kind == b"jp2c":
            codestream = _siz(data[start:])
            if image_header is not None and image_header != codestream:
                raise Refused("The JPEG 2000 file's image header disagrees with its codestream.")
            return codestream
        position = end


def _box(data: bytes, position: int) -> tuple[bytes, int, int]:
    """A JP2 box at `position`: its type and where its contents start and end."""
    if position + 8 > len(data):
        raise NeedMore
    length, kind = struct.unpack_from(">I4s", data, position)
    start = position + 8
    if length == 1:
        if position + 16 > len(data):
            raise NeedMore
        (length,) = struct.unpack_from(">Q", data, position + 8)
        start = position + 16
    elif length == 0:
        length = 1 << 62  # the last box: runs to the end of the file
    if length < start - position:
        raise Refused("The JPEG 2000 file is damaged (a box length is invalid).")
    return kind, start, position + length


def _siz(data: bytes) -> Header:
    if data[:4] != _J2K_START:
        raise Refused("The JPEG 2000 codestream of a frame does not start with SOC and SIZ.")
    if len(data) < 4 + 38 + 3:
        raise NeedMore
    width, height, x_offset, y_offset = struct.unpack_from(">IIII", data, 8)
    (components,) = struct.unpack_from(">H", data, 40)
    if width <= x_offset or height <= y_offset:
        raise Refused("The JPEG 2000 codestream of a frame declares an empty image.")
    return Header(height - y_offset, width - x_offset, components, (data[42] & 0x7F) + 1)


# --- RLE --------------------------------------------------------------------------------------


def _check_rle(
    data: bytes, rows: int, columns: int, samples: int, bits_allocated: int, length: int | None
) -> None:
    whole = length is None or length <= len(data)
    total = len(data) if length is None else length
    if len(data) < _RLE_HEADER:
        if whole:
            raise Refused("The RLE data of a frame is shorter than its header.")
        raise NeedMore
    count, *offsets = struct.unpack_from("<16I", data)
    expected = samples * max(bits_allocated // 8, 1)
    if count != expected:
        raise Refused(
            f"The RLE data of a frame has {count} segments where the file's image needs "
            f"{expected}; it is not decoded."
        )
    plane = rows * columns
    # An encoder that writes runs of one byte as literals spends two bytes on each: twice the
    # plane (plus a padding byte) is the most any segment needs.
    longest = 2 * plane + 2
    starts = offsets[:count]
    if starts[0] != _RLE_HEADER or any(b <= a for a, b in zip(starts, starts[1:], strict=False)):
        raise Refused("The RLE data of a frame has an invalid segment table.")
    ends = [*starts[1:], total]
    for start, end in zip(starts, ends, strict=True):
        if end > total or end - start > longest:
            raise Refused("The RLE data of a frame has a segment longer than its image allows.")
        if not whole or 64 * (end - start) <= RLE_UNMEASURED_BYTES:
            continue
        decoded = rle_decoded_length(data[start:end], plane)
        if decoded != plane:
            raise Refused(
                "The RLE data of a frame decodes to "
                f"{'more' if decoded > plane else 'fewer'} pixels than the image has."
            )


def rle_decoded_length(segment: bytes, limit: int) -> int:
    """How many bytes a PackBits segment decodes to, counted without decoding; stops (and
    returns limit + 1) as soon as it passes `limit`."""
    position, total, size = 0, 0, len(segment)
    while position < size and total <= limit:
        header = segment[position]
        if header < 128:  # the next header + 1 bytes, literally (as many as there are)
            total += min(header + 1, size - position - 1)
            position += header + 2
        elif header > 128:  # the next byte, 257 - header times (if there is one)
            total += 257 - header if position + 1 < size else 0
            position += 2
        else:  # 128: no operation
            position += 1
    return min(total, limit + 1)
