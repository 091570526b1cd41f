"""Small DICOM files for tests and benchmarks: numpy arrays -> pydicom data sets -> bytes.

Also an independent reference for the display pipeline (the PS3.3 formulas written piecewise,
exactly as in the standard), so tests compare rendered pixels with an expectation that does not
share code with studies/rendering.py.
"""

from __future__ import annotations

import io
import os

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import (
    UID,
    CTImageStorage,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    JPEGBaseline8Bit,
    generate_uid,
)

TEST_FILES = os.path.join(os.path.dirname(pydicom.__file__), "data", "test_files")


def bundled(name: str) -> str:
    """A test file bundled with pydicom (no download)."""
    return os.path.join(TEST_FILES, name)


def phantom(rows: int = 64, columns: int = 48, low: int = -1000, high: int = 1500) -> np.ndarray:
    """A smooth ramp with a disc: every value between low and high appears somewhere."""
    yy, xx = np.mgrid[0:rows, 0:columns]
    ramp = low + (high - low) * (yy * columns + xx) / (rows * columns - 1)
    disc = np.hypot(yy - rows / 2, xx - columns / 2) < min(rows, columns) / 5
    return np.where(disc, (low + high) // 2, ramp).round().astype(np.int64)


def dataset(
    pixels: np.ndarray,
    *,
    photometric: str = "MONOCHROME2",
    bits_allocated: int | None = None,
    bits_stored: int | None = None,
    signed: bool = False,
    syntax: str = ExplicitVRLittleEndian,
    frames: int | None = None,
    **attributes: object,
) -> Dataset:
    """A CT-like data set holding `pixels` (frames x rows x cols [x 3] or rows x cols [x 3])."""
    colour = photometric not in ("MONOCHROME1", "MONOCHROME2", "PALETTE COLOR")
    multi = pixels.ndim == (4 if colour else 3)
    bits_allocated = bits_allocated or (8 if pixels.dtype.itemsize == 1 else 16)
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = UID(syntax)
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.Modality = "CT"
    ds.PatientName = "Test^Render"
    ds.Rows, ds.Columns = pixels.shape[1:3] if multi else pixels.shape[:2]
    ds.SamplesPerPixel = 3 if colour else 1
    if colour:
        ds.PlanarConfiguration = 0
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated = bits_allocated
    ds.BitsStored = bits_stored or bits_allocated
    ds.HighBit = ds.BitsStored - 1
    ds.PixelRepresentation = 1 if signed else 0
    if multi or frames:
        ds.NumberOfFrames = frames or pixels.shape[0]
    for name, value in attributes.items():
        setattr(ds, name, value)
    kind = "i" if signed else "u"
    order = ">" if syntax == ExplicitVRBigEndian else "<"
    if bits_allocated == 1:
        ds.PixelData = pydicom.pixels.pack_bits(pixels.astype(np.uint8).ravel())
    else:
        ds.PixelData = pixels.astype(f"{order}{kind}{bits_allocated // 8}").tobytes()
    return ds


def jpeg_baseline(pixels: np.ndarray, *, photometric: str, quality: int = 95) -> Dataset:
    """JPEG baseline through Pillow (grey, or colour subsampled 4:2:2 as YBR_FULL_422)."""
    from PIL import Image

    out = io.BytesIO()
    subsampling = 1 if pixels.ndim == 3 else 0  # 1 = 4:2:2
    Image.fromarray(pixels).save(out, "JPEG", quality=quality, subsampling=subsampling)
    ds = dataset(pixels, photometric=photometric, syntax=JPEGBaseline8Bit)
    ds.PixelData = encapsulate([out.getvalue()])
    ds["PixelData"].VR = "OB"
    return ds


def to_bytes(ds: Dataset) -> bytes:
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def write(ds: Dataset, path) -> str:  # type: ignore[no-untyped-def]
    ds.save_as(path, enforce_file_format=True)
    return str(path)


# --- An independent reference for the display pipeline -------------------------------------


def reference_window(values: np.ndarray, center: float, width: float, function: str = "LINEAR"):  # type: ignore[no-untyped-def]
    """PS3.3 C.11.2.1.2.1 / C.11.2.1.3.2 written out piecewise, output 0..255."""
    values = values.astype(np.float64)
    y_min, y_max = 0.0, 255.0
    if function == "SIGMOID":
        out = (y_max - y_min) / (1 + np.exp(-4 * (values - center) / width)) + y_min
    elif function == "LINEAR_EXACT":
        out = np.empty_like(values)
        below = values <= center - width / 2
        above = values > center + width / 2
        inside = ~(below | above)
        out[below], out[above] = y_min, y_max
        out[inside] = ((values[inside] - center) / width + 0.5) * (y_max - y_min) + y_min
    else:
        out = np.empty_like(values)
        below = values <= center - 0.5 - (width - 1) / 2
        above = values > center - 0.5 + (width - 1) / 2
        inside = ~(below | above)
        out[below], out[above] = y_min, y_max
        out[inside] = ((values[inside] - (center - 0.5)) / (width - 1) + 0.5) * (
            y_max - y_min
        ) + y_min
    return np.rint(out).astype(np.uint8)


def decoded(data: bytes) -> np.ndarray:
    """Pixels of an encoded PNG/JPEG/WebP response."""
    from PIL import Image

    image = Image.open(io.BytesIO(data))
    image.load()
    return np.asarray(image)


def close(actual: np.ndarray, expected: np.ndarray, tolerance: int = 1) -> bool:
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    difference = np.abs(actual.astype(np.int64) - expected.astype(np.int64))
    return int(difference.max()) <= tolerance
