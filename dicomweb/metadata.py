"""An instance's attributes as DICOM JSON (PS3.18 F.2), with its bulk data by reference, and
the bulk data itself found in the stored file (WADO-RS bulkdata, PS3.18 10.4.1.1.5).

Binary values (OB, OD, OF, OL, OV, OW, UN) longer than BULK_THRESHOLD, and the pixel data, are
not put in the metadata: each is a "BulkDataURI" naming
`.../instances/{sop}/bulkdata/{attribute path}`, the path being the attribute's tag, or for an
attribute inside a sequence the sequence's tag, the item's index (from 0) and so on down, as
dcm4chee names it (`00540016/0/00091010`).

The header is read with pydicom's `defer_size`: a large value at the top level is skipped,
not read, and pydicom records where it is; bulk data is then streamed from that offset a chunk
at a time. A sequence larger than the threshold is read as a whole when it is needed (it holds
attributes the metadata shows), within the file size limit like everything else. The pixel
data is found where `stop_before_pixels` stops, as rendering finds it.
"""

from __future__ import annotations

import math
import re
import struct
from collections.abc import Callable, Iterator
from contextlib import ExitStack, nullcontext
from dataclasses import dataclass, field
from typing import IO, Any, TypeGuard, cast

import pydicom
from django.conf import settings
from pydicom.datadict import dictionary_VR
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset

from studies import limits
from studies.dicom import read_encoding
from studies.models import Instance
from studies.rendering import RenderError

from . import frames

BULK_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "UN"})
BULK_THRESHOLD = 1024  # bytes: a longer binary value is bulk data
CHUNK = 256 * 1024
PIXEL_DATA = 0x7FE00010
PIXEL_VRS = {0x7FE00010: "OW", 0x7FE00008: "OF", 0x7FE00009: "OD"}
UNDEFINED_LENGTH = 0xFFFFFFFF
MAX_DEPTH = 8  # sequences nested deeper than this are not addressed by a bulk data path

# tag(/item/tag)*: tags in hexadecimal, items numbered from 0.
PATH_REGEX = rf"[0-9A-Fa-f]{{8}}(?:/[0-9]{{1,6}}/[0-9A-Fa-f]{{8}}){{0,{MAX_DEPTH}}}"
_PATH = re.compile(PATH_REGEX)


class NotBulkData(Exception):
    """The path names nothing in this instance that has bulk data (a 404)."""


def parse_path(text: str) -> tuple[list[tuple[int, int]], int]:
    """`00540016/0/00091010` as ([(0x00540016, 0)], 0x00091010)."""
    if not _PATH.fullmatch(text):
        raise NotBulkData("A bulk data path is a tag, or sequence/item/tag, in hexadecimal.")
    parts = text.split("/")
    steps = [(int(parts[i], 16), int(parts[i + 1])) for i in range(0, len(parts) - 1, 2)]
    return steps, int(parts[-1], 16)


def path_text(steps: tuple[tuple[int, int], ...], tag: int) -> str:
    return "".join(f"{sequence:08X}/{item}/" for sequence, item in steps) + f"{tag:08X}"


# --- Reading the header -------------------------------------------------------------------


@dataclass
class Header:
    """The data set up to the pixel data, large values deferred, and the open file."""

    ds: Dataset
    handle: IO[bytes]
    pixel_tag: int | None = None
    pixel_vr: str = ""
    pixel_offset: int = 0
    pixel_length: int | None = None  # None: encapsulated (undefined length)
    stack: ExitStack = field(default_factory=ExitStack)

    def close(self) -> None:
        self.stack.close()


def read_header(instance: Instance) -> Header:
    """Open the instance's file (a deflated one inflated into a bounded temporary copy) and
    read its header; the caller closes it. RenderError when the file cannot be read."""
    stack = ExitStack()
    try:
        source = frames._source(instance)
        raw = stack.enter_context(open(source, "rb") if isinstance(source, str) else source)
        plain = limits.inflated_copy(raw, max_inflated=settings.DICOM_MAX_FILE_SIZE)
        handle = stack.enter_context(plain or nullcontext(raw))
        ds = pydicom.dcmread(handle, stop_before_pixels=True, defer_size=BULK_THRESHOLD)
        header = Header(ds=ds, handle=handle, stack=stack)
        _find_pixel_data(header)
        return header
    except limits.Refused as refused:
        stack.close()
        raise RenderError(refused.reason) from refused
    except RenderError:
        stack.close()
        raise
    except Exception as exc:
        stack.close()
        raise RenderError(
            f"The file's attributes could not be read ({exc.__class__.__name__})."
        ) from exc


def _find_pixel_data(header: Header) -> None:
    implicit, little = read_encoding(header.ds)
    position = header.handle.tell()
    pixel = limits.pixel_data_at(
        header.handle, position, implicit=bool(implicit), little=little is not False
    )
    if pixel is None:
        return
    header.handle.seek(position)
    head = header.handle.read(6)
    group, element = struct.unpack(f"{pixel.endian}HH", head[:4])
    tag = group << 16 | element
    vr = head[4:6].decode("ascii", "replace") if not implicit else ""
    if vr not in BULK_VRS:  # implicit VR: the dictionary's, by the bits allocated
        bits = int(header.ds.get("BitsAllocated", 16) or 16)
        vr = "OB" if tag == PIXEL_DATA and (bits <= 8 or pixel.length is None) else PIXEL_VRS[tag]
    header.pixel_tag, header.pixel_vr = tag, vr
    header.pixel_offset, header.pixel_length = pixel.value_start, pixel.length


def _vr(raw: DataElement | RawDataElement) -> str:
    if raw.VR:
        return str(raw.VR)
    try:  # implicit VR: the dictionary's ("OB or OW" is OW, as PS3.18 F.2.3 says)
        return str(dictionary_VR(raw.tag)).split(" or ")[-1]
    except KeyError:
        return "UN"


def _deferred(raw: DataElement | RawDataElement) -> TypeGuard[RawDataElement]:
    return isinstance(raw, RawDataElement) and raw.value is None and raw.length > 0


def _top_level(ds: Dataset) -> list[DataElement | RawDataElement]:
    """The data set's elements as read: a deferred value stays unread (`Dataset.elements()`
    would read it)."""
    return [_raw(ds, tag) for tag in sorted(ds.keys())]


def _raw(ds: Dataset, tag: int) -> DataElement | RawDataElement:
    return cast(DataElement | RawDataElement, ds.get_item(tag, keep_deferred=True))


def _element(header: Header, ds: Dataset, tag: int) -> DataElement:
    """A top-level element, read from the file first when its value was deferred."""
    raw = _raw(ds, tag)
    if _deferred(raw):
        if raw.length == UNDEFINED_LENGTH:
            raise RenderError("An attribute of undefined length could not be read.")
        header.handle.seek(raw.value_tell)
        ds[tag] = raw._replace(value=header.handle.read(raw.length))
    return ds[tag]


# --- Metadata -----------------------------------------------------------------------------


def instance_json(instance: Instance, bulk_uri: Callable[[str], str]) -> dict[str, Any]:
    """The instance's attributes as a DICOM JSON object; `bulk_uri(path)` is the URL of the
    bulk data at `path`. RenderError when the file cannot be read."""
    header = read_header(instance)
    try:
        result: dict[str, Any] = {}
        for raw in _top_level(header.ds):
            key = f"{raw.tag:08X}"
            vr = _vr(raw)
            if _deferred(raw) and vr in BULK_VRS:
                result[key] = {"vr": vr, "BulkDataURI": bulk_uri(path_text((), raw.tag))}
            else:
                element = _element(header, header.ds, raw.tag)
                result[key] = _element_json(element, (), bulk_uri)
        if header.pixel_tag is not None:
            uri = bulk_uri(path_text((), header.pixel_tag))
            result[f"{header.pixel_tag:08X}"] = {"vr": header.pixel_vr, "BulkDataURI": uri}
        return _finite(result)
    except RenderError:
        raise
    except Exception as exc:
        raise RenderError(
            f"The file's attributes could not be read ({exc.__class__.__name__})."
        ) from exc
    finally:
        header.close()


def _element_json(
    element: DataElement, steps: tuple[tuple[int, int], ...], bulk_uri: Callable[[str], str]
) -> dict[str, Any]:
    if element.VR == "SQ":
        items = [
            {
                f"{item_element.tag:08X}": _element_json(
                    item_element, (*steps, (int(element.tag), index)), bulk_uri
                )
                for item_element in item
            }
            for index, item in enumerate(element.value or [])
        ]
        return {"vr": "SQ", "Value": items} if items else {"vr": "SQ"}
    if (
        element.VR in BULK_VRS
        and isinstance(element.value, bytes)
        and len(element.value) > BULK_THRESHOLD
    ):
        return {"vr": element.VR, "BulkDataURI": bulk_uri(path_text(steps, int(element.tag)))}
    return element.to_json_dict(None, BULK_THRESHOLD)


def _finite(value: Any) -> Any:
    """JSON has no NaN or Infinity: a decimal string such as "NaN" in a file becomes null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_finite(item) for item in value]
    return value


# --- Bulk data ----------------------------------------------------------------------------


@dataclass
class Bulk:
    """Where a bulk value is: `length` bytes at `offset` of the open file, or `value` already
    read (a value inside a sequence), or the encapsulated pixel data (`encapsulated`)."""

    header: Header
    offset: int = 0
    length: int = 0
    value: bytes | None = None
    encapsulated: bool = False

    def chunks(self) -> Iterator[bytes]:
        """The value, a chunk at a time; the file is closed at the end (or when the response
        is closed early)."""
        try:
            if self.value is not None:
                yield self.value
                return
            handle, left = self.header.handle, self.length
            handle.seek(self.offset)
            while left > 0:
                chunk = handle.read(min(CHUNK, left))
                if not chunk:
                    raise RenderError("The file ends before the value does.")
                left -= len(chunk)
                yield chunk
        finally:
            self.header.close()


def find_bulk(instance: Instance, text: str) -> Bulk:
    """The bulk data at path `text` in the instance's file, ready to stream (its file open:
    stream it, or close `bulk.header`). NotBulkData for a path that names no binary value
    here, RenderError for a file that cannot be read."""
    steps, tag = parse_path(text)
    header = read_header(instance)
    try:
        bulk = _find(header, steps, tag)
    except (NotBulkData, RenderError):
        header.close()
        raise
    except Exception as exc:
        header.close()
        raise RenderError(
            f"The file's attributes could not be read ({exc.__class__.__name__})."
        ) from exc
    return bulk


def _find(header: Header, steps: list[tuple[int, int]], tag: int) -> Bulk:
    if not steps and tag == header.pixel_tag:
        if header.pixel_length is None:
            return Bulk(header, encapsulated=True)
        return Bulk(header, offset=header.pixel_offset, length=header.pixel_length)
    ds = header.ds
    for sequence, index in steps:
        if sequence not in ds:
            raise NotBulkData("No such attribute.")
        element = _element(header, ds, sequence)
        if element.VR != "SQ" or not 0 <= index < len(element.value or []):
            raise NotBulkData("No such item.")
        ds = element.value[index]
    if tag not in ds:
        raise NotBulkData("No such attribute.")
    raw = _raw(ds, tag)
    if _vr(raw) not in BULK_VRS:
        raise NotBulkData("That attribute is not binary: it is in the metadata.")
    if _deferred(raw):
        if raw.length == UNDEFINED_LENGTH:  # skipped to its delimiter: no length to stream
            raise NotBulkData("That attribute has no defined length; retrieve the instance.")
        return Bulk(header, offset=raw.value_tell, length=raw.length)
    value = raw.value if isinstance(raw, RawDataElement) else ds[tag].value
    return Bulk(header, value=bytes(value or b""))
