"""Decoding one frame: native frames straight from the file, compressed ones through
pydicom's decoders once their own header agrees with the file's."""

from __future__ import annotations

from typing import IO, Any, BinaryIO, cast

import numpy as np
import pydicom
import pydicom.encaps
import pydicom.pixels
from pydicom.uid import (
    UID,
)

from .. import codestreams
from .header import MONOCHROME, ImageInfo, RenderError, Source, _opened


def _native_frame(info: ImageInfo, handle: IO[bytes], index: int) -> np.ndarray:
    """Read one uncompressed monochrome frame straight from the file with numpy."""
    size = info.frame_bytes
    start = info.pixel_offset + index * size  # type: ignore[operator]
    if (index + 1) * size > info.pixel_length:
        raise RenderError("The pixel data is truncated: the file ends before this frame.")
    handle.seek(start)
    buffer = handle.read(size)
    if len(buffer) < size:
        raise RenderError("The pixel data is truncated: the file ends before this frame.")
    kind = "i" if info.signed else "u"
    order = "<" if info.little_endian else ">"
    array = np.frombuffer(buffer, dtype=f"{order}{kind}{info.bits_allocated // 8}")
    if not info.little_endian:
        array = array.astype(array.dtype.newbyteorder("="))
    return array.reshape(info.rows, info.columns)


def _check_codestream(info: ImageInfo, handle: IO[bytes], index: int) -> None:
    """Refuse a compressed frame whose own header disagrees with the file's image size,
    before a decoder allocates what that header says. The frame is found the way pydicom's
    decoders find it (offset tables, or one fragment per frame)."""
    if info.transfer_syntax not in codestreams.CODESTREAM_SYNTAXES or info.value_offset is None:
        return
    handle.seek(info.value_offset)
    try:
        frame = pydicom.encaps.get_frame(
            handle,
            index,
            number_of_frames=info.frames,
            extended_offsets=info.extended_offsets,
        )
        codestreams.check_frame(
            frame,
            info.transfer_syntax,
            rows=info.rows,
            columns=info.columns,
            samples=info.samples,
            bits_allocated=info.bits_allocated,
        )
    except codestreams.NeedMore:
        raise RenderError("The frame's compressed data ends before its header does.") from None
    except codestreams.Refused as refused:
        raise RenderError(refused.reason) from refused
    except Exception as exc:
        detail = " ".join(str(exc).split())[:300] or exc.__class__.__name__
        raise RenderError(f"The frame could not be found in the pixel data: {detail}") from exc


def decode_frame(info: ImageInfo, source: Source, index: int) -> np.ndarray:
    """The stored values of frame `index` (0-based): 2-D for one sample, (rows, cols, 3) RGB.

    A deflated file's `source` is its inflated copy (as `read_info` read it)."""
    if not 0 <= index < info.frames:
        raise RenderError(f"Frame {index + 1} does not exist (the image has {info.frames}).")
    with _opened(source) as handle:
        if (
            info.pixel_offset is not None
            and info.samples == 1
            and info.bits_allocated in (8, 16, 32)
            and info.photometric in (*MONOCHROME, "PALETTE COLOR")
        ):
            return _native_frame(info, handle, index)
        _check_codestream(info, handle, index)
        handle.seek(0)
        try:
            # A data set encoded unlike its transfer syntax is decoded from the data set read
            # whole: pydicom's decoders, handed the file, parse it as the syntax says.
            src: Any = pydicom.dcmread(handle) if info.decode_from_dataset else handle
            array = pydicom.pixels.pixel_array(cast(BinaryIO, src), index=index, as_rgb=True)
        except Exception as exc:
            name = UID(info.transfer_syntax).name if info.transfer_syntax else "unknown"
            detail = " ".join(str(exc).split())[:300] or exc.__class__.__name__
            raise RenderError(f"The frame could not be decoded ({name}): {detail}") from exc
    if info.frames > 1 and array.ndim == (3 if info.samples == 1 else 4):
        array = array[0]
    return array
