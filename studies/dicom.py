"""Read one DICOM file into plain values: a pure module (no ORM), testable on files alone.

`parse_dicom(path_or_file)` reads the header with pydicom (stopping before the pixel data, so
it stays fast on large images), checks that the file is whole, and returns a `ParsedInstance`
whose attribute names are the model fields of Study, Series and Instance. Anything that cannot
become a stored instance raises `DicomRejected` with a reason a person can act on. Values that
are merely malformed (a date of "20241341", a window of "abc") become None or "" instead.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import os
import re
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pydicom
import pydicom.config
from django.conf import settings
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.multival import MultiValue

from .limits import (
    DEFLATED,
    Refused,
    check_declared,
    check_encapsulated,
    check_native,
    fragments,
    human_size,
    inflated_copy,
    pixel_data_at,
)

__all__ = ["DicomRejected", "ParsedInstance", "human_size", "parse_dicom", "read_encoding"]

# Lenient reading: a malformed value becomes None or "" here. pydicom's default would warn and
# log each one, copying values (a patient's birth date, say) into the logs.
pydicom.config.settings.reading_validation_mode = pydicom.config.IGNORE

Source = str | os.PathLike[str] | IO[bytes]

_UNDEFINED_LENGTH = 0xFFFFFFFF
_UID = re.compile(r"^[0-9A-Za-z.\-]{1,64}$")
_INT_RANGE = (-(2**31), 2**31 - 1)


class DicomRejected(Exception):
    """The file cannot be stored; `reason` says why, in words for the person who sent it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class ParsedInstance:
    # Study
    study_instance_uid: str
    patient_name: str
    patient_id: str
    issuer_of_patient_id: str
    patient_birth_date: dt.date | None
    patient_sex: str
    study_date: dt.date | None
    study_time: dt.time | None
    study_description: str
    accession_number: str
    referring_physician_name: str
    study_id: str
    # Series
    series_instance_uid: str
    modality: str
    series_number: int | None
    series_description: str
    body_part_examined: str
    # Instance
    sop_instance_uid: str
    sop_class_uid: str
    instance_number: int | None
    rows: int | None
    columns: int | None
    number_of_frames: int
    transfer_syntax_uid: str
    photometric_interpretation: str
    bits_allocated: int | None
    window_center: float | None
    window_width: float | None
    slice_location: float | None
    file_size: int

    @property
    def has_pixels(self) -> bool:
        return bool(self.rows and self.columns)


def parse_dicom(source: Source, *, max_size: int | None = None) -> ParsedInstance:
    """Parse the DICOM file at `source` (a path or a binary file object, read from the start).

    Raises DicomRejected when it is not DICOM, is truncated or unreadable, lacks a Study,
    Series or SOP Instance UID, or is larger than `max_size` (default
    settings.DICOM_MAX_FILE_SIZE). Objects without pixel data (structured reports, for
    instance) are accepted with rows and columns None.
    """
    limit = settings.DICOM_MAX_FILE_SIZE if max_size is None else max_size
    if isinstance(source, str | os.PathLike):
        try:
            with open(Path(source), "rb") as handle:
                return _parse_open(handle, limit)
        except OSError as error:
            raise DicomRejected("The file could not be read.") from error
    return _parse_open(source, limit)


def _parse_open(handle: IO[bytes], limit: int) -> ParsedInstance:
    try:
        handle.seek(0, os.SEEK_END)
        size = handle.tell()
        handle.seek(0)
    except (OSError, ValueError) as error:
        raise DicomRejected("The file could not be read.") from error
    if size > limit:
        raise DicomRejected(
            f"The file is too large ({human_size(size)}; the limit is {human_size(limit)})."
        )
    if size == 0:
        raise DicomRejected("The file is empty.")
    try:
        # A deflated data set is inflated in a stream, within the same size limit, into a
        # temporary copy that the checks below read like any other file.
        plain = inflated_copy(handle, max_inflated=limit)
    except Refused as refused:
        raise DicomRejected(refused.reason) from refused
    if plain is None:
        return _parse_plain(handle, size, size)
    with plain:
        inflated = plain.seek(0, os.SEEK_END)
        plain.seek(0)
        parsed = _parse_plain(plain, inflated, size)
    return dataclasses.replace(parsed, transfer_syntax_uid=DEFLATED)


def _parse_plain(handle: IO[bytes], size: int, file_size: int) -> ParsedInstance:
    dataset = _read(handle)
    _check_complete(dataset, handle, size)
    return _values(dataset, file_size)


def _read(handle: IO[bytes]) -> Dataset:
    try:
        return pydicom.dcmread(handle, stop_before_pixels=True)
    except InvalidDicomError:
        pass  # no preamble and "DICM" prefix: maybe a bare dataset, as some old systems write
    except Exception as error:  # pydicom raises many kinds on corrupt input
        raise DicomRejected("The file is damaged or truncated and could not be read.") from error
    handle.seek(0)
    if not _looks_like_bare_dataset(handle.read(8)):
        raise DicomRejected("This is not a DICOM file.")
    handle.seek(0)
    try:
        return pydicom.dcmread(handle, stop_before_pixels=True, force=True)
    except Exception as error:
        raise DicomRejected("The file is damaged or truncated and could not be read.") from error


def _looks_like_bare_dataset(head: bytes) -> bool:
    """A dataset without preamble starts with a group 0002 or 0008 tag, little endian."""
    if len(head) < 8:
        return False
    group, element = struct.unpack("<HH", head[:4])
    if group not in (0x0002, 0x0008) or element > 0x1FFF:
        return False
    vr = head[4:6]
    explicit = vr.isalpha() and vr.isupper()
    implicit_length = struct.unpack("<I", head[4:8])[0]
    return explicit or implicit_length < 0x10000


def _check_complete(dataset: Dataset, handle: IO[bytes], size: int) -> None:
    """Reject a file cut short: pydicom stops quietly at the end of a truncated file."""
    truncated = DicomRejected("The file is truncated (it ends before its data does).")
    position = handle.tell()
    if position < size:  # stopped at the pixel data: check that all of it is there
        try:
            _check_pixel_data(dataset, handle, position, size)
        except Refused as refused:
            raise DicomRejected(refused.reason) from refused
        return
    if "Rows" in dataset and "Columns" in dataset:
        raise truncated  # an image whose pixel data is missing
    for element in _raw_elements(dataset):
        if element.length != _UNDEFINED_LENGTH and len(element.value or b"") < element.length:
            raise truncated


def _raw_elements(dataset: Dataset) -> Iterable[RawDataElement]:
    for element in dataset.elements():
        if isinstance(element, RawDataElement) and isinstance(element.value, bytes | None):
            yield element


def read_encoding(dataset: Dataset) -> tuple[bool | None, bool | None]:
    """(implicit VR, little endian) as pydicom actually read the data set.

    Some writers encode the data set in implicit VR under an explicit-VR transfer syntax (or
    the reverse), a quirk real archives hold. pydicom notices and reads what is there, but
    `original_encoding` still reports the transfer syntax's encoding; the elements themselves
    record the one they were read with.
    """
    for element in dataset.elements():
        if isinstance(element, RawDataElement):
            return element.is_implicit_VR, element.is_little_endian
    return dataset.original_encoding


def _check_pixel_data(dataset: Dataset, handle: IO[bytes], position: int, size: int) -> None:
    """All of the pixel data is there, and it is no larger than the limits, whether counted
    from the header or from the bytes the file holds (`studies/limits.py`)."""
    implicit, little = read_encoding(dataset)
    pixel = pixel_data_at(handle, position, implicit=bool(implicit), little=little is not False)
    if pixel is None:
        return  # stopped at something else after the header: nothing more to check
    if pixel.length is not None and pixel.value_start + pixel.length > size:
        raise Refused("The file is truncated (it ends before its data does).")
    image = _declared_image(dataset)
    if image is None:  # not a decodable image: only check that it is complete
        if pixel.length is None:
            for _ in fragments(handle, pixel, size):
                pass
        return
    rows, columns, samples, bits_allocated, frames = image
    check_declared(
        rows=rows,
        columns=columns,
        samples=samples,
        frames=frames,
        max_pixels=settings.DICOM_MAX_PIXELS,
        max_frames=settings.DICOM_MAX_FRAMES,
    )
    if bits_allocated is None:
        return  # no decoder could read it; the viewer says so, nothing is allocated
    shape = {
        "rows": rows,
        "columns": columns,
        "samples": samples,
        "bits_allocated": bits_allocated,
        "frames": frames,
    }
    if pixel.length is None:
        check_encapsulated(handle, pixel, size, syntax=_transfer_syntax(dataset), **shape)
    else:
        photometric = _text(dataset, "PhotometricInterpretation", 32).upper()
        check_native(pixel, photometric=photometric, **shape)


def _declared_image(ds: Dataset) -> tuple[int, int, int, int | None, int] | None:
    """Rows, columns, samples per pixel, bits allocated and frames, as declared."""
    rows, columns = _positive(ds, "Rows"), _positive(ds, "Columns")
    if rows is None or columns is None:
        return None
    try:
        frames = int(_first(_raw(ds, "NumberOfFrames")))
    except (TypeError, ValueError):
        frames = 1
    samples = _positive(ds, "SamplesPerPixel") or 1
    return rows, columns, samples, _positive(ds, "BitsAllocated"), max(frames, 1)


# ---------------------------------------------------------------------------- values


def _values(ds: Dataset, size: int) -> ParsedInstance:
    study_uid = _uid(ds, "StudyInstanceUID", "Study Instance UID")
    series_uid = _uid(ds, "SeriesInstanceUID", "Series Instance UID")
    sop_uid = _uid(ds, "SOPInstanceUID", "SOP Instance UID")
    meta = getattr(ds, "file_meta", None)
    return ParsedInstance(
        study_instance_uid=study_uid,
        patient_name=_text(ds, "PatientName", 200),
        patient_id=_text(ds, "PatientID", 64),
        issuer_of_patient_id=_text(ds, "IssuerOfPatientID", 64),
        patient_birth_date=_date(_text(ds, "PatientBirthDate", 32)),
        patient_sex=_text(ds, "PatientSex", 16),
        study_date=_date(_text(ds, "StudyDate", 32)),
        study_time=_time(_text(ds, "StudyTime", 32)),
        study_description=_text(ds, "StudyDescription", 200),
        accession_number=_text(ds, "AccessionNumber", 64),
        referring_physician_name=_text(ds, "ReferringPhysicianName", 200),
        study_id=_text(ds, "StudyID", 64),
        series_instance_uid=series_uid,
        modality=_text(ds, "Modality", 16).upper(),
        series_number=_int(ds, "SeriesNumber"),
        series_description=_text(ds, "SeriesDescription", 200),
        body_part_examined=_text(ds, "BodyPartExamined", 64),
        sop_instance_uid=sop_uid,
        sop_class_uid=_text(ds, "SOPClassUID", 64)
        or (_text(meta, "MediaStorageSOPClassUID", 64) if meta is not None else ""),
        instance_number=_int(ds, "InstanceNumber"),
        rows=_positive(ds, "Rows"),
        columns=_positive(ds, "Columns"),
        number_of_frames=_positive(ds, "NumberOfFrames") or 1,
        transfer_syntax_uid=_transfer_syntax(ds),
        photometric_interpretation=_text(ds, "PhotometricInterpretation", 32),
        bits_allocated=_positive(ds, "BitsAllocated"),
        window_center=_float(ds, "WindowCenter"),
        window_width=_float(ds, "WindowWidth"),
        slice_location=_float(ds, "SliceLocation"),
        file_size=size,
    )


def _raw(ds: Dataset | None, keyword: str) -> Any:
    if ds is None:
        return None
    try:
        return ds.get(keyword)
    except Exception:  # a value pydicom cannot convert counts as absent
        return None


def _text(ds: Dataset | None, keyword: str, max_length: int) -> str:
    value = _raw(ds, keyword)
    if value is None:
        return ""
    if isinstance(value, MultiValue | list | tuple):
        value = "\\".join(str(item) for item in value)
    text = str(value).replace("\x00", "").strip()
    return "".join(ch for ch in text if ch.isprintable())[:max_length]


def _uid(ds: Dataset, keyword: str, label: str) -> str:
    value = _text(ds, keyword, 200)
    if not value:
        raise DicomRejected(f"The file has no {label}.")
    if not _UID.match(value):
        raise DicomRejected(f"The file's {label} is not valid.")
    return value


def _first(value: Any) -> Any:
    if isinstance(value, MultiValue | list | tuple):
        return value[0] if len(value) else None
    return value


def _float(ds: Dataset, keyword: str) -> float | None:
    try:
        number = float(_first(_raw(ds, keyword)))
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _int(ds: Dataset, keyword: str) -> int | None:
    try:
        number = int(_first(_raw(ds, keyword)))
    except (TypeError, ValueError):
        return None
    return number if _INT_RANGE[0] <= number <= _INT_RANGE[1] else None


def _positive(ds: Dataset, keyword: str) -> int | None:
    number = _int(ds, keyword)
    return number if number is not None and number > 0 else None


def _date(text: str) -> dt.date | None:
    digits = text.replace(".", "").replace("-", "")  # old ACR-NEMA files write 2024.03.01
    if len(digits) != 8 or not digits.isdigit():
        return None
    try:
        return dt.date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
    except ValueError:
        return None


_TIME = re.compile(r"^(\d{2}):?(\d{2})?:?(\d{2})?(?:\.(\d{1,6}))?$")


def _time(text: str) -> dt.time | None:
    match = _TIME.match(text)
    if not match:
        return None
    hour, minute, second, fraction = match.groups()
    try:
        return dt.time(
            int(hour),
            int(minute or 0),
            min(int(second or 0), 59),  # DICOM allows a leap second (60)
            int((fraction or "0").ljust(6, "0")),
        )
    except ValueError:
        return None


def _transfer_syntax(ds: Dataset) -> str:
    meta = getattr(ds, "file_meta", None)
    uid = _text(meta, "TransferSyntaxUID", 64) if meta is not None else ""
    if uid:
        return uid
    implicit, little = read_encoding(ds)
    if implicit:
        return "1.2.840.10008.1.2"
    return "1.2.840.10008.1.2.1" if little is not False else "1.2.840.10008.1.2.2"
