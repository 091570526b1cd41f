"""The header: what rendering needs from a file, read once up to the pixel data, and the
limits checked before anything that size is allocated."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import math
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from typing import IO, Any

import numpy as np
import pydicom
import pydicom.encaps
import pydicom.pixels
from pydicom.dataset import Dataset
from pydicom.uid import (
    UID,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)

from .. import limits
from ..dicom import read_encoding

FUNCTIONS = ("LINEAR", "LINEAR_EXACT", "SIGMOID")
MONOCHROME = ("MONOCHROME1", "MONOCHROME2")
NATIVE_SYNTAXES = {ExplicitVRLittleEndian, ImplicitVRLittleEndian, ExplicitVRBigEndian}

Source = str | bytes | IO[bytes]


class RenderError(Exception):
    """The frame cannot be shown; `reason` says why, in words for the person looking at it.

    `permanent`: the file itself is the reason (the same request will fail the same way), so
    the refusal may be cached; not so for a missing file or a busy server.
    """

    def __init__(self, reason: str, *, permanent: bool = True) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


@dataclass(frozen=True)
class Window:
    """A VOI window: centre and width in modality units, and the DICOM VOI LUT function."""

    center: float
    width: float
    function: str = "LINEAR"

    def __post_init__(self) -> None:
        if self.function not in FUNCTIONS:
            raise ValueError(f"Unknown VOI LUT function {self.function!r}.")
        if not (math.isfinite(self.center) and math.isfinite(self.width)):
            raise ValueError("Window centre and width must be finite numbers.")
        minimum = 1 if self.function == "LINEAR" else 0
        if self.width < minimum or (self.function != "LINEAR" and self.width <= 0):
            raise ValueError(
                "Window width must be at least 1."
                if self.function == "LINEAR"
                else "Window width must be greater than 0."
            )


@dataclass(frozen=True, eq=False)
class LookupTable:
    """A DICOM LUT (Modality or VOI LUT Sequence item): first mapped value, bits, data."""

    first: int
    bits: int
    data: np.ndarray = field(repr=False)
    digest: str = ""

    def __hash__(self) -> int:
        return hash(self.digest)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LookupTable) and other.digest == self.digest

    def apply(self, values: np.ndarray) -> np.ndarray:
        index = np.clip(np.rint(values).astype(np.int64) - self.first, 0, len(self.data) - 1)
        return self.data[index]


@dataclass(frozen=True)
class Limits:
    max_pixels: int = 100_000_000  # rows x columns x samples of one frame
    max_frames: int = 10_000
    max_inflated: int = 512 * 1024 * 1024  # a deflated data set, inflated


@dataclass(frozen=True)
class ImageInfo:
    """What rendering needs from a file's header, parsed once."""

    transfer_syntax: str
    rows: int
    columns: int
    frames: int
    samples: int
    photometric: str
    bits_allocated: int
    bits_stored: int
    signed: bool
    planar: int
    pixel_offset: int | None  # file offset of native pixel data; None when pydicom must decode
    pixel_length: int
    little_endian: bool
    value_offset: int | None = None  # file offset of the pixel data's value, native or not
    # Extended Offset Table (offsets, lengths) of encapsulated pixel data, when there is one.
    extended_offsets: tuple[bytes, bytes] | None = field(default=None, repr=False)
    slope: float = 1.0
    intercept: float = 0.0
    modality_lut: LookupTable | None = None
    windows: tuple[Window, ...] = ()
    voi_lut: LookupTable | None = None
    palette: np.ndarray | None = field(default=None, repr=False)  # (N, 3) uint8
    palette_first: int = 0
    # Enhanced multi-frame: per-frame overrides of rescale and window (index = frame).
    frame_rescale: tuple[tuple[float, float] | None, ...] = ()
    frame_windows: tuple[Window | None, ...] = ()
    # The data set is encoded unlike its transfer syntax says (see _read_info): pydicom decodes
    # it from the data set read whole, not from the file.
    decode_from_dataset: bool = False

    @property
    def frame_bytes(self) -> int:
        return self.rows * self.columns * self.samples * self.bits_allocated // 8

    @property
    def is_monochrome(self) -> bool:
        return self.photometric in MONOCHROME

    def rescale_for(self, index: int) -> tuple[float, float]:
        rescale = _entry(self.frame_rescale, index)
        return rescale if rescale is not None else (self.slope, self.intercept)

    def file_window(self, index: int) -> Window | None:
        window = _entry(self.frame_windows, index)
        if window is not None:
            return window
        return self.windows[0] if self.windows else None


def _entry(values: tuple, index: int) -> Any:
    """The per-frame value of frame `index`; the last one (the shared group's) past the end."""
    if not values:
        return None
    return values[index] if index < len(values) else values[-1]


# --- Header -----------------------------------------------------------------------------------


def _number(value: Any, default: float) -> float:
    if value is None or value == "":
        return default
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        value = value[0] if len(value) else default
    try:
        number = float(value)
    except (TypeError, ValueError):
        return default
    return number if math.isfinite(number) else default


def _window_from(item: Any, function: str = "LINEAR") -> Window | None:
    center, width = item.get("WindowCenter"), item.get("WindowWidth")
    if center is None or width is None or center == "" or width == "":
        return None
    function = str(item.get("VOILUTFunction", function) or function).upper()
    try:
        return Window(_number(center, math.nan), _number(width, math.nan), function)
    except ValueError:
        return None


def _lookup_table(item: Any, signed: bool) -> LookupTable | None:
    descriptor = item.get("LUTDescriptor")
    data_element = item["LUTData"] if "LUTData" in item else None
    if descriptor is None or data_element is None or len(descriptor) < 3:
        return None
    entries, first, bits = (int(x) for x in descriptor[:3])
    entries = entries or 65536
    raw = data_element.value
    if isinstance(raw, bytes | bytearray):
        dtype = "<u1" if bits <= 8 and len(raw) == entries else "<u2"
        data = np.frombuffer(raw, dtype=dtype)
    else:
        data = np.asarray(raw if isinstance(raw, Sequence) else [raw], dtype=np.int64)
    data = data[:entries].astype(np.int64)
    if not len(data):
        return None
    if signed and first >= 32768:
        first -= 65536  # the first mapped value follows the pixel representation
    digest = hashlib.blake2b(data.tobytes() + f"{first}/{bits}".encode(), digest_size=12)
    data.setflags(write=False)
    return LookupTable(first=first, bits=bits, data=data, digest=digest.hexdigest())


def _palette(ds: Dataset) -> tuple[np.ndarray, int]:
    descriptor = ds.get("RedPaletteColorLookupTableDescriptor")
    if descriptor is None:
        raise RenderError("A PALETTE COLOR image without its palette cannot be shown.")
    entries, first, bits = (int(x) for x in descriptor[:3])
    entries = entries or 65536
    indices = np.arange(first, first + entries)
    if ds.get("PixelRepresentation", 0) == 1 and first >= 32768:
        first -= 65536
        indices = np.arange(first, first + entries)
    try:
        rgb = pydicom.pixels.apply_color_lut(indices, ds)
    except Exception as exc:  # a malformed palette is the file's problem, not ours
        raise RenderError(f"The colour palette is unreadable ({exc.__class__.__name__}).") from exc
    top = 255 if rgb.dtype == np.uint8 else (1 << max(bits, 9)) - 1
    table = np.clip(np.rint(rgb.astype(np.float64) * (255 / top)), 0, 255).astype(np.uint8)
    return table.reshape(-1, 3), first


def _functional_groups(ds: Dataset, frames: int) -> tuple[tuple, tuple]:
    """Rescale and window from enhanced multi-frame functional groups (shared, then per frame).

    One entry per frame, but never more than the file's per-frame items (or one, when only
    shared groups exist: `rescale_for` and `file_window` use the last entry for later frames),
    so a declared frame count builds nothing by itself."""
    shared = ds.get("SharedFunctionalGroupsSequence")
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    if not shared and not per_frame:
        return (), ()
    frames = max(1, min(frames, len(per_frame or ())))

    def read(group: Any) -> tuple[tuple[float, float] | None, Window | None]:
        rescale = window = None
        if group is not None:
            transform = group.get("PixelValueTransformationSequence")
            if transform:
                item = transform[0]
                rescale = (
                    _number(item.get("RescaleSlope"), 1.0),
                    _number(item.get("RescaleIntercept"), 0.0),
                )
            voi = group.get("FrameVOILUTSequence")
            if voi:
                window = _window_from(voi[0])
        return rescale, window

    base_rescale, base_window = read(shared[0] if shared else None)
    rescales, windows = [], []
    for index in range(frames):
        rescale, window = read(per_frame[index] if per_frame and index < len(per_frame) else None)
        rescales.append(rescale or base_rescale)
        windows.append(window or base_window)
    return tuple(rescales), tuple(windows)


def info_from_dataset(ds: Dataset, *, pixel_offset: int | None, pixel_length: int) -> ImageInfo:
    meta = getattr(ds, "file_meta", None)
    syntax = str((meta or {}).get("TransferSyntaxUID") or ImplicitVRLittleEndian)
    if "PixelData" not in ds:
        raise RenderError("This DICOM object has no image (no Pixel Data).")
    try:
        rows, columns = int(ds.Rows), int(ds.Columns)
        frames = int(ds.get("NumberOfFrames", 1) or 1)
        samples = int(ds.get("SamplesPerPixel", 1) or 1)
        bits_allocated = int(ds.BitsAllocated)
        bits_stored = int(ds.get("BitsStored", bits_allocated) or bits_allocated)
    except (AttributeError, TypeError, ValueError) as exc:
        raise RenderError(f"The image attributes are missing or invalid ({exc}).") from exc
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).strip().upper()
    if bits_allocated not in (1, 8, 16, 32, 64) or not 1 <= bits_stored <= bits_allocated:
        raise RenderError(f"Unsupported bit depth: {bits_stored} of {bits_allocated} bits.")
    if samples not in (1, 3):
        raise RenderError(f"Unsupported samples per pixel: {samples}.")
    signed = int(ds.get("PixelRepresentation", 0) or 0) == 1
    modality_lut = None
    if "ModalityLUTSequence" in ds and ds.ModalityLUTSequence:
        modality_lut = _lookup_table(ds.ModalityLUTSequence[0], signed)
    voi_lut = None
    if "VOILUTSequence" in ds and ds.VOILUTSequence:
        voi_lut = _lookup_table(ds.VOILUTSequence[0], signed)
    palette, palette_first = (None, 0)
    if photometric == "PALETTE COLOR":
        palette, palette_first = _palette(ds)
    frame_rescale, frame_windows = _functional_groups(ds, frames)
    native = syntax in NATIVE_SYNTAXES and pixel_offset is not None
    extended = None
    if "ExtendedOffsetTable" in ds and "ExtendedOffsetTableLengths" in ds:
        extended = (bytes(ds.ExtendedOffsetTable), bytes(ds.ExtendedOffsetTableLengths))
    return ImageInfo(
        transfer_syntax=syntax,
        rows=rows,
        columns=columns,
        frames=frames,
        samples=samples,
        photometric=photometric,
        bits_allocated=bits_allocated,
        bits_stored=bits_stored,
        signed=signed,
        planar=int(ds.get("PlanarConfiguration", 0) or 0),
        pixel_offset=pixel_offset if native else None,
        pixel_length=pixel_length,
        little_endian=syntax != ExplicitVRBigEndian,
        value_offset=pixel_offset,
        extended_offsets=extended,
        slope=_number(ds.get("RescaleSlope"), 1.0) or 1.0,
        intercept=_number(ds.get("RescaleIntercept"), 0.0),
        modality_lut=modality_lut,
        windows=tuple(w for w in [_window_from(ds)] if w is not None),
        voi_lut=voi_lut,
        palette=palette,
        palette_first=palette_first,
        frame_rescale=frame_rescale,
        frame_windows=frame_windows,
    )


@contextmanager
def _opened(source: Source) -> Iterator[IO[bytes]]:
    """A binary file object on `source`: a path (opened and closed here), bytes, or a file."""
    if isinstance(source, bytes):
        yield io.BytesIO(source)
    elif isinstance(source, str):
        try:
            handle = open(source, "rb")  # noqa: SIM115
        except OSError as exc:
            raise RenderError("The image file is missing.", permanent=False) from exc
        with handle:
            yield handle
    else:
        source.seek(0)
        yield source


@contextmanager
def _inflated(source: Source, max_inflated: int) -> Iterator[tuple[IO[bytes], bool]]:
    """A deflated file's data set inflated (streamed, at most `max_inflated` bytes) into a
    temporary Explicit VR Little Endian copy; any other file as it is."""
    with _opened(source) as handle:
        try:
            plain = limits.inflated_copy(handle, max_inflated=max_inflated)
        except limits.Refused as refused:
            raise RenderError(refused.reason) from refused
        if plain is None:
            yield handle, False
            return
        with plain:
            yield plain, True


def _read_info(src: Source, max_inflated: int) -> ImageInfo:
    """The header, read up to the pixel data (never the pixel data itself)."""
    with _inflated(src, max_inflated) as (handle, deflated):
        try:
            ds = pydicom.dcmread(handle, stop_before_pixels=True)
            implicit, little = read_encoding(ds)  # as written, which may differ from the syntax
            pixel = limits.pixel_data_at(
                handle, handle.tell(), implicit=bool(implicit), little=little is not False
            )
        except limits.Refused as refused:
            raise RenderError(refused.reason) from refused
        except Exception as exc:
            reason = f"The file is not readable DICOM ({exc.__class__.__name__})."
            raise RenderError(reason) from exc
    if pixel is None:
        raise RenderError("This DICOM object has no image (no Pixel Data).")
    ds.PixelData = b""  # present, not read: offset and length are what rendering needs
    try:
        info = info_from_dataset(ds, pixel_offset=pixel.value_start, pixel_length=pixel.length or 0)
    except RenderError:
        raise
    except Exception as exc:
        reason = f"The image header is invalid ({exc.__class__.__name__}: {exc})."
        raise RenderError(reason) from exc
    if deflated:
        # Offsets refer to the inflated copy, which decode_frame is given again (see render).
        return dataclasses.replace(info, transfer_syntax=limits.DEFLATED)
    # Implicit VR under an explicit-VR transfer syntax (or the reverse), a quirk real archives
    # hold: pydicom reads the data set as it is, but its decoders, handed the file, parse the
    # Pixel Data element as the transfer syntax says and fail.
    syntax = UID(info.transfer_syntax)
    if syntax.is_transfer_syntax and implicit not in (None, syntax.is_implicit_VR):
        info = dataclasses.replace(info, decode_from_dataset=True)
    return info


@lru_cache(maxsize=512)
def _read_info_cached(path: str, mtime_ns: int, size: int, max_inflated: int) -> ImageInfo:
    return _read_info(path, max_inflated)


def read_info(source: Source, max_inflated: int = Limits.max_inflated) -> ImageInfo:
    """The header of a file (cached per process by path, mtime and size), bytes or a file."""
    if not isinstance(source, str):
        return _read_info(source, max_inflated)
    try:
        stat = os.stat(source)
    except OSError as exc:
        raise RenderError("The image file is missing.", permanent=False) from exc
    return _read_info_cached(source, stat.st_mtime_ns, stat.st_size, max_inflated)


def check_limits(info: ImageInfo, bounds: Limits) -> None:
    if info.rows < 1 or info.columns < 1:
        raise RenderError("The image has no rows or columns.")
    if info.frames < 1:
        raise RenderError("The image has no frames.")
    try:
        limits.check_declared(
            rows=info.rows,
            columns=info.columns,
            samples=info.samples,
            frames=info.frames,
            max_pixels=bounds.max_pixels,
            max_frames=bounds.max_frames,
        )
    except limits.Refused as refused:
        raise RenderError(refused.reason) from refused
