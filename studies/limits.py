"""What a DICOM file may make the server allocate, checked before anything is decoded.

A pure module (no ORM, no settings): ingest (`studies/dicom.py`) and rendering
(`studies/rendering.py`) both call it with the limits from the settings. Every size a file
declares is checked against the limits and against the bytes the file really holds:

- Rows x Columns x Samples per Pixel per frame (`max_pixels`) and Number of Frames
  (`max_frames`);
- uncompressed pixel data must hold every declared frame (a 1 KB file that declares two
  billion frames is refused, instead of a per-frame list two billion long being built later);
- encapsulated (compressed) pixel data must hold at least one fragment per declared frame, an
  offset table that agrees with the frame count, and in every frame a codestream whose own
  header agrees with Rows, Columns and Samples (`studies/codestreams.py`);
- a Deflated Explicit VR Little Endian file is inflated in a stream, never past `max_inflated`
  bytes, into a temporary file (on disk past a few megabytes), so 1 MB that inflates to 1 GB
  costs neither 1 GB of memory nor, past the limit, 1 GB of disk.
"""

from __future__ import annotations

import struct
import tempfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any, BinaryIO, cast

from django.template.defaultfilters import filesizeformat
from pydicom.dataset import FileMetaDataset
from pydicom.filebase import DicomFileLike
from pydicom.filereader import read_dataset, read_preamble
from pydicom.filewriter import write_file_meta_info
from pydicom.uid import DeflatedExplicitVRLittleEndian, ExplicitVRLittleEndian

from .codestreams import (
    CODESTREAM_SYNTAXES,
    RLE,
    NeedMore,
    Refused,
    check_frame,
    looks_like_frame_start,
)

__all__ = [
    "DEFLATED",
    "PixelData",
    "Refused",
    "check_declared",
    "check_encapsulated",
    "check_native",
    "fragments",
    "inflated_copy",
    "pixel_data_at",
    "transfer_syntax_of",
]

DEFLATED = str(DeflatedExplicitVRLittleEndian)
PIXEL_TAGS = frozenset({0x7FE00010, 0x7FE00008, 0x7FE00009})  # Pixel Data, Float, Double Float
_ITEM, _SEQUENCE_END = 0xFFFEE000, 0xFFFEE0DD
_UNDEFINED = 0xFFFFFFFF
_LONG_VRS = (b"OB", b"OW", b"OF", b"OD", b"UN", b"OL", b"OV")
# Fragments walked at most (each costs a seek and a read): far above any real file (a frame is
# rarely in more than a few fragments), far below what a file of empty items could make us do.
MAX_FRAGMENTS = 1_000_000
HEAD_BYTES = 4096  # read first from each frame: codestream headers are a few hundred bytes
MAX_HEAD_BYTES = 256 * 1024  # and at most this much, past application segments (JPEG APPn)
INFLATE_CHUNK = 1024 * 1024
SPOOL_IN_MEMORY = 8 * 1024 * 1024  # an inflated copy larger than this goes to a temporary file


def human_size(size: int) -> str:
    """1536 -> '1.5 KB': Django's `filesizeformat`, with a plain space instead of its no-break
    space, as these messages also go to the command line (`import_dicom`) and the audit trail."""
    return filesizeformat(size).replace("\xa0", " ")


def check_declared(
    *, rows: int, columns: int, samples: int, frames: int, max_pixels: int, max_frames: int
) -> None:
    """The declared frame size and frame count, against the limits."""
    if rows * columns * samples > max_pixels:
        times = f" x {samples} samples" if samples > 1 else ""
        raise Refused(
            f"The image is too large ({columns} x {rows} pixels{times}; "
            f"the limit is {max_pixels:,} samples per frame)."
        )
    if frames > max_frames:
        raise Refused(f"The image has {frames:,} frames; the limit is {max_frames:,}.")


# --- Where the pixel data is ------------------------------------------------------------------


@dataclass(frozen=True)
class PixelData:
    value_start: int
    length: int | None  # None: undefined length, i.e. encapsulated fragments
    endian: str


def pixel_data_at(
    handle: IO[bytes], position: int, *, implicit: bool, little: bool
) -> PixelData | None:
    """The pixel data element at `position` (where pydicom stops with stop_before_pixels).

    None when something else is there; Refused when the element header itself is cut.
    """
    endian = "<" if little else ">"
    handle.seek(position)
    header = handle.read(12)
    if len(header) < 8:
        raise Refused("The file is truncated (it ends before its data does).")
    group, element = struct.unpack(f"{endian}HH", header[:4])
    if (group << 16 | element) not in PIXEL_TAGS:
        return None
    if implicit:
        length, start = struct.unpack(f"{endian}I", header[4:8])[0], position + 8
    elif header[4:6] in _LONG_VRS:
        if len(header) < 12:
            raise Refused("The file is truncated (it ends before its data does).")
        length, start = struct.unpack(f"{endian}I", header[8:12])[0], position + 12
    else:
        length, start = struct.unpack(f"{endian}H", header[6:8])[0], position + 8
    return PixelData(start, None if length == _UNDEFINED else length, endian)


def native_bytes(
    *,
    rows: int,
    columns: int,
    samples: int,
    bits_allocated: int,
    frames: int,
    photometric: str = "",
) -> int:
    if samples == 3 and photometric == "YBR_FULL_422":
        samples = 2  # stored 4:2:2: two chroma values for every two pixels (PS3.3 C.7.6.3.1.2)
    return (rows * columns * samples * bits_allocated * frames + 7) // 8


def check_native(
    pixel: PixelData,
    *,
    rows: int,
    columns: int,
    samples: int,
    bits_allocated: int,
    frames: int,
    photometric: str = "",
) -> None:
    """Uncompressed pixel data must hold every frame the header declares."""
    assert pixel.length is not None
    needed = native_bytes(
        rows=rows,
        columns=columns,
        samples=samples,
        bits_allocated=bits_allocated,
        frames=frames,
        photometric=photometric,
    )
    if pixel.length < needed:
        one = max(needed // frames, 1)
        raise Refused(
            f"The file declares {frames:,} frame{'s' if frames > 1 else ''} of {columns} x {rows} "
            f"pixels, but its pixel data holds {human_size(pixel.length)}, "
            f"enough for {pixel.length // one:,}."
        )


# --- Encapsulated pixel data ------------------------------------------------------------------


def fragments(handle: IO[bytes], pixel: PixelData, size: int) -> Iterator[tuple[int, int]]:
    """(offset of the item's value, length) of every item, the offset table first.

    Refused when the items do not end with a sequence delimiter inside the file.
    """
    offset, count = pixel.value_start, 0
    while offset + 8 <= size:
        handle.seek(offset)
        group, element, length = struct.unpack(f"{pixel.endian}HHI", handle.read(8))
        tag = group << 16 | element
        if tag == _SEQUENCE_END:
            return
        if tag != _ITEM or length == _UNDEFINED or offset + 8 + length > size:
            break
        count += 1
        if count > MAX_FRAGMENTS:
            raise Refused(f"The pixel data has more than {MAX_FRAGMENTS:,} fragments.")
        yield offset + 8, length
        offset += 8 + length
    raise Refused("The file is truncated (it ends before its data does).")


def check_encapsulated(
    handle: IO[bytes],
    pixel: PixelData,
    size: int,
    *,
    syntax: str,
    rows: int,
    columns: int,
    samples: int,
    bits_allocated: int,
    frames: int,
) -> None:
    """Compressed pixel data: complete, a fragment per frame at least, an offset table that
    agrees with the frame count, and every frame's codestream the size the header says."""
    items = fragments(handle, pixel, size)
    first = next(items, None)
    if first is None:
        raise Refused("The pixel data has no offset table.")
    table_start, table_length = first
    known = syntax in CODESTREAM_SYNTAXES
    if not known:  # video and other syntaxes: one stream for all frames; only completeness
        for _ in items:
            pass
        return
    starts = _offset_table(handle, table_start, table_length, frames, pixel.endian)
    base = table_start + table_length  # offsets count from the first fragment's item tag
    count = frame_starts = 0
    for value_start, length in items:
        relative = value_start - 8 - base
        if starts is not None:
            is_start = relative in starts
        elif syntax == RLE:  # exactly one fragment per frame (PS3.5 A.4.2)
            is_start = True
        else:
            is_start = count == 0 or looks_like_frame_start(
                _read(handle, value_start, min(length, 12)), syntax
            )
        count += 1
        if is_start:
            frame_starts += 1
            _check_frame_at(
                handle, value_start, length, syntax, rows, columns, samples, bits_allocated
            )
    expected_starts = frames if starts is None else len(starts)
    if frame_starts < expected_starts or (syntax == RLE and count != frames):
        raise Refused(
            f"The file declares {frames:,} frame{'s' if frames > 1 else ''}, but its pixel "
            f"data holds {min(frame_starts, count):,}."
        )


def _offset_table(
    handle: IO[bytes], start: int, length: int, frames: int, endian: str
) -> set[int] | None:
    """The Basic Offset Table's frame offsets, or None when it is empty."""
    if length == 0:
        return None
    if length % 4 or length // 4 != frames:
        raise Refused(
            f"The pixel data's offset table lists {length // 4:,} frames, "
            f"but the file declares {frames:,}."
        )
    values = struct.unpack(f"{endian}{frames}I", _read(handle, start, length))
    if values[0] != 0 or any(b <= a for a, b in zip(values, values[1:], strict=False)):
        raise Refused("The pixel data's offset table is invalid.")
    return set(values)


def _check_frame_at(
    handle: IO[bytes],
    start: int,
    length: int,
    syntax: str,
    rows: int,
    columns: int,
    samples: int,
    bits_allocated: int,
) -> None:
    wanted = min(length, HEAD_BYTES)
    while True:
        head = _read(handle, start, wanted)
        try:
            check_frame(
                head,
                syntax,
                rows=rows,
                columns=columns,
                samples=samples,
                bits_allocated=bits_allocated,
                length=length,
            )
            return
        except NeedMore:
            if wanted >= min(length, MAX_HEAD_BYTES):
                raise Refused(
                    "The size of a compressed frame could not be read from its first "
                    f"{human_size(wanted)}."
                ) from None
            wanted = min(length, MAX_HEAD_BYTES)


def _read(handle: IO[bytes], offset: int, length: int) -> bytes:
    handle.seek(offset)
    return handle.read(length)


# --- Deflated data sets -----------------------------------------------------------------------


def transfer_syntax_of(handle: IO[bytes]) -> tuple[str, FileMetaDataset | None, int]:
    """The transfer syntax in the file meta information, the meta, and where the data set
    starts; ("", None, 0) for a file without file meta information."""
    handle.seek(0)
    try:
        if read_preamble(cast(BinaryIO, handle), True) is None:
            return "", None, 0
        meta = FileMetaDataset(
            read_dataset(
                cast(BinaryIO, handle),
                is_implicit_VR=False,
                is_little_endian=True,
                stop_when=lambda tag, vr, length: tag >> 16 != 2,
            )
        )
        syntax = str(meta.get("TransferSyntaxUID", "") or "").strip("\0 ")
    except Exception:  # a damaged header is reported by the full parse that follows
        return "", None, 0
    return syntax, meta, handle.tell()


def inflated_copy(handle: IO[bytes], *, max_inflated: int) -> IO[bytes] | None:
    """For a Deflated Explicit VR Little Endian file, the same file with its data set inflated
    (Explicit VR Little Endian, which every other path reads); None for any other file.

    Inflated in a stream, 1 MB at a time, and refused as soon as it passes `max_inflated`
    bytes. The copy is a temporary file: close it when done.
    """
    syntax, meta, start = transfer_syntax_of(handle)
    if syntax != DEFLATED or meta is None:
        handle.seek(0)
        return None
    plain: Any = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115
    try:
        meta = FileMetaDataset(meta)
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        plain.write(b"\0" * 128 + b"DICM")
        write_file_meta_info(DicomFileLike(plain), meta, enforce_standard=False)
        _inflate(handle, start, plain, max_inflated)
    except BaseException:
        plain.close()
        raise
    plain.seek(0)
    return plain


def _inflate(handle: IO[bytes], start: int, out: IO[bytes], limit: int) -> None:
    handle.seek(start)
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    written = 0
    pending = b""
    too_large = Refused(f"The file inflates to more than {human_size(limit)}, the limit.")
    while True:
        if not pending:
            pending = handle.read(INFLATE_CHUNK)
            if not pending:
                break
        try:
            # max_length bounds what one call may produce, whatever the compressed bytes say.
            chunk = inflater.decompress(pending, INFLATE_CHUNK)
        except zlib.error as error:
            raise Refused("The file's deflated data is damaged and could not be read.") from error
        pending = inflater.unconsumed_tail
        written += len(chunk)
        if written > limit:
            raise too_large
        out.write(chunk)
        if inflater.eof:
            break
    if not inflater.eof:
        raise Refused("The file's deflated data is truncated.")
