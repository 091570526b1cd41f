"""A frame's stored values for windowing in the browser: lossless, compressed, bounded.

The viewer applies window/level itself (on a canvas) once it has a slice's values, so a drag
costs no round trip. What it is sent, as one gzip stream (`Content-Encoding: gzip`, so the
browser inflates it):

- a JSON line: rows, columns, whether the values are signed, the frame's rescale slope and
  intercept, and whether the image is MONOCHROME1 (shown inverted);
- the values as 16-bit patterns, each row as differences from its left neighbour (mod 2^16,
  the first as it is), all low bytes first, then all high bytes: the differences are small
  and the high bytes nearly constant, so the stream deflates to about half the raw size.

Memory: the largest frame offered (2048 x 2048, 16 bits) peaks 32 MB above the process (the
decoded frame, its differences and byte planes, 8 MB each), 48 MB when fitted to a viewport (the
resize's 32-bit copies); measured in a fresh process (ru_maxrss over VmRSS before the call).

Only images the browser windows exactly as the server does are offered: one sample of 8 or
16 bits, MONOCHROME1 or 2, rescaled linearly (no Modality LUT Sequence), at most
`MAX_SAMPLES` pixels (2048 x 2048; a larger image's values are resized to `viewport` only
after decoding, and the decode is what the bound is for). Anything else is a `RenderError`
and the viewer keeps asking the server for each window.
"""

from __future__ import annotations

import json

import numpy as np
from PIL import Image

from . import Limits, RenderError, Source, decode, fit_size, read_info
from .display import _stored
from .header import MONOCHROME, check_limits

try:  # ISA-L (the `isal` package): the same format as zlib's, faster
    from isal import isal_zlib as zlib
except ImportError:  # pragma: no cover (a dependency; the standard library is the fallback)
    import zlib  # type: ignore[no-redef]

MEDIA_TYPE = "application/vnd.cimar.frame-values"
MAX_SAMPLES = 2048 * 2048
COMPRESSION_LEVEL = 2


def offered(source: Source, bounds: Limits) -> None:
    """RenderError unless this file's frames can be windowed in the browser (header only)."""
    info = read_info(source, bounds.max_inflated)
    check_limits(info, bounds)
    if not (
        info.samples == 1
        and info.photometric in MONOCHROME
        and info.bits_allocated in (8, 16)
        and info.modality_lut is None
    ):
        raise RenderError("Windowing in the browser is not offered for this kind of image.")
    if info.rows * info.columns > MAX_SAMPLES:
        raise RenderError("Windowing in the browser is not offered for images this large.")


def frame_values(
    source: Source,
    frame: int,
    viewport: tuple[int, int] | None = None,
    bounds: Limits = Limits(),  # noqa: B008 (frozen)
) -> bytes:
    """The gzip stream described above for frame `frame` (0-based), resized (never enlarged)
    to fit `viewport`."""
    offered(source, bounds)
    info, pixels = decode(source, frame, bounds)
    stored = _stored(info, pixels)
    height, width = stored.shape
    size = fit_size(width, height, viewport)
    if size != (width, height):
        image = Image.fromarray(stored.astype(np.float32), mode="F")
        image = image.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
        stored = np.rint(np.asarray(image)).astype(np.int32)
        height, width = stored.shape
    # 16-bit patterns (two's complement for signed values), without a copy when they are.
    if stored.dtype.itemsize == 2:
        patterns = stored.view(np.uint16)
    else:
        patterns = stored.astype(np.int32 if stored.dtype.itemsize > 2 else np.int16).astype(
            np.uint16
        )
    deltas = np.empty((height, width), dtype="<u2")
    deltas[:, :1] = patterns[:, :1]
    np.subtract(patterns[:, 1:], patterns[:, :-1], out=deltas[:, 1:])  # mod 2^16
    planes = np.ascontiguousarray(deltas.view(np.uint8).reshape(-1, 2).T)  # low bytes, high
    del deltas
    slope, intercept = info.rescale_for(frame)
    header = {
        "rows": height,
        "columns": width,
        "signed": info.signed,
        "slope": slope,
        "intercept": intercept,
        "invert": info.photometric == "MONOCHROME1",
    }
    head = json.dumps(header, separators=(",", ":")).encode() + b"\n"
    gzip = zlib.compressobj(COMPRESSION_LEVEL, zlib.DEFLATED, 31)  # wbits 31: a gzip stream
    return gzip.compress(head) + gzip.compress(planes.data) + gzip.flush()
