"""Render DICOM frames for the browser: decode, modality LUT, VOI (window) LUT, encode.

A pure module: no ORM, no Django settings. It takes a file path (or bytes), a frame index and
the display parameters, and returns encoded image bytes or raises `RenderError` with a reason a
clinician can read.

Speed matters here (the viewer scrolls through hundreds of slices), so:

- headers are parsed once per file and kept in a small per-process LRU keyed by path, mtime and
  size (files are immutable under server-generated names, so this is only a safety net);
- uncompressed monochrome frames are read straight from the file offset with numpy, without
  pydicom touching the pixel data; compressed ones go through pydicom's decoders (pylibjpeg for
  JPEG, JPEG-LS and JPEG 2000; RLE is built in) and only the requested frame is decoded;
- modality LUT, VOI and MONOCHROME1 inversion are folded into one 8-bit lookup table per
  (bits, sign, rescale, window, function) and cached, so a frame costs one `numpy.take`.

And memory is bounded, because any file may be hostile (`studies/limits.py`): the header is
checked against the limits before anything else, a compressed frame's own header
(`studies/codestreams.py`) must agree with the file's before it reaches a decoder, a deflated
file is inflated in a stream within `Limits.max_inflated`, and whole-frame work is done in
blocks (`_BLOCK` pixels at a time) instead of full-frame 64-bit temporaries: a 10000 x 10000
16-bit frame peaks near 330 MB instead of 1.1 GB (figures in the README).
The modules: `header` (read once, limits), `decode` (one frame), `display` (LUTs) and `png`;
this package joins them (`render`) and keeps every public name importable from here.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image

from .. import limits
from .decode import decode_frame
from .display import auto_window, monochrome_lut, to_display
from .header import (
    FUNCTIONS,
    MONOCHROME,
    NATIVE_SYNTAXES,
    ImageInfo,
    Limits,
    LookupTable,
    RenderError,
    Source,
    Window,
    _inflated,
    check_limits,
    info_from_dataset,
    read_info,
)
from .png import PNG_SIGNATURE, deflate, encode_png

PNG, JPEG, WEBP = "image/png", "image/jpeg", "image/webp"
MEDIA_TYPES = {PNG: "PNG", JPEG: "JPEG", WEBP: "WEBP"}
DEFAULT_QUALITY = 90

__all__ = [
    "DEFAULT_QUALITY",
    "FUNCTIONS",
    "JPEG",
    "MEDIA_TYPES",
    "MONOCHROME",
    "NATIVE_SYNTAXES",
    "PNG",
    "PNG_SIGNATURE",
    "WEBP",
    "ImageInfo",
    "Limits",
    "LookupTable",
    "RenderError",
    "RenderParams",
    "Source",
    "Window",
    "auto_window",
    "check_limits",
    "decode",
    "decode_frame",
    "deflate",
    "encode",
    "encode_png",
    "fit_size",
    "info_from_dataset",
    "monochrome_lut",
    "read_info",
    "render",
    "to_display",
]


def fit_size(width: int, height: int, viewport: tuple[int, int] | None) -> tuple[int, int]:
    """The size the image is shown at: scaled down (never up) to fit the viewport."""
    if not viewport:
        return width, height
    factor = min(viewport[0] / width, viewport[1] / height, 1.0)
    return max(1, round(width * factor)), max(1, round(height * factor))


def encode(
    pixels: np.ndarray,
    media_type: str,
    *,
    quality: int = DEFAULT_QUALITY,
    viewport: tuple[int, int] | None = None,
) -> bytes:
    height, width = pixels.shape[:2]
    size = fit_size(width, height, viewport)
    image = None
    if size != (width, height):
        image = Image.fromarray(np.ascontiguousarray(pixels))
        image = image.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
    if media_type == PNG:
        return encode_png(pixels if image is None else np.asarray(image))
    image = image or Image.fromarray(np.ascontiguousarray(pixels))
    out = io.BytesIO()
    if media_type == JPEG:
        image.save(out, "JPEG", quality=quality)
    elif media_type == WEBP:
        image.save(out, "WEBP", quality=quality, method=2)
    else:
        raise ValueError(f"Unsupported media type {media_type}")
    return out.getvalue()


# --- The whole pipeline -----------------------------------------------------------------------


@dataclass(frozen=True)
class RenderParams:
    frame: int = 0  # 0-based
    window: Window | None = None
    viewport: tuple[int, int] | None = None
    media_type: str = PNG
    quality: int = DEFAULT_QUALITY


def decode(source: Source, frame: int, bounds: Limits = Limits()) -> tuple[ImageInfo, np.ndarray]:  # noqa: B008 (frozen)
    """The header and the stored values of one frame, the limits checked before decoding."""
    info = read_info(source, bounds.max_inflated)
    check_limits(info, bounds)
    if info.transfer_syntax == limits.DEFLATED:  # no frame offsets: inflate (bounded) again
        with _inflated(source, bounds.max_inflated) as (plain, _):
            return info, decode_frame(info, plain, frame)
    return info, decode_frame(info, source, frame)


def render(source: Source, params: RenderParams, bounds: Limits = Limits()) -> bytes:  # noqa: B008 (frozen)
    """Decode, window and encode one frame of a DICOM file (a path, or the file's bytes)."""
    info, pixels = decode(source, params.frame, bounds)
    display = to_display(info, pixels, params.frame, params.window)
    return encode(display, params.media_type, quality=params.quality, viewport=params.viewport)
