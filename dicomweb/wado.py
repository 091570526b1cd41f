"""WADO-RS (PS3.18 10.4): studies, series and instances as multipart/related application/dicom
(streamed from storage a chunk at a time, never built in memory), and their metadata as
application/dicom+json (one instance's attributes at a time)."""

from __future__ import annotations

import itertools
import json
import logging
import secrets
from collections.abc import Iterable, Iterator
from contextlib import nullcontext

import pydicom
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase

from studies import rendering
from studies.models import Instance
from studies.rendering import RenderError

from . import auditing, frames
from .api import DICOM_JSON, BadRequest, api_view, text
from .metadata import NotBulkData, find_bulk, instance_json
from .scope import Scope
from .views import NotAcceptable, negotiate

logger = logging.getLogger(__name__)

CHUNK = 256 * 1024


def _acceptable(request: HttpRequest) -> bool:
    """Whether the Accept header allows multipart/related; type="application/dicom" (the
    stored transfer syntax is sent whatever syntax is asked for: it is named in each part)."""
    accept = request.headers.get("Accept", "").lower()
    if not accept.strip():
        return True
    for media in accept.split(","):
        media = media.strip()
        if media.startswith(("*/*", "multipart/*")):
            return True
        if media.startswith("multipart/related") and (
            "type" not in media or "application/dicom" in media
        ):
            return True
        if media.startswith("application/dicom") and not media.startswith("application/dicom+"):
            return True
    return False


def _multipart(instances: Iterable[Instance], boundary: str) -> Iterator[bytes]:
    for instance in instances:
        syntax = instance.transfer_syntax_uid
        header = f"--{boundary}\r\nContent-Type: application/dicom"
        if syntax:
            header += f"; transfer-syntax={syntax}"
        yield (header + "\r\n\r\n").encode()
        try:
            with instance.file.open("rb") as handle:
                while chunk := handle.read(CHUNK):
                    yield chunk
        except OSError:
            # The response has started: the client sees a short part and the missing close.
            logger.exception("A stored DICOM file could not be read (instance %s)", instance.pk)
            return
        yield b"\r\n"
    yield f"--{boundary}--\r\n".encode()


def _retrieve(request: HttpRequest, instances: Iterable[Instance]) -> HttpResponseBase:
    if not _acceptable(request):
        return text(
            'This resource is available as multipart/related; type="application/dicom".', 406
        )
    boundary = secrets.token_hex(16)
    response = StreamingHttpResponse(
        _multipart(instances, boundary),
        content_type=f'multipart/related; type="application/dicom"; boundary={boundary}',
    )
    response["Cache-Control"] = "private, no-store"
    return response


def _ordered(queryset):  # type: ignore[no-untyped-def]
    # Only the columns the stream needs; iterator() fetches rows in chunks, not all at once.
    return queryset.only("pk", "file", "transfer_syntax_uid").order_by(
        "series__series_number", "series_id", "instance_number", "id"
    )


@api_view(audit=auditing.RETRIEVE)
def retrieve_study(request: HttpRequest, scope: Scope, study: str) -> HttpResponseBase:
    found = scope.study(study)
    return _retrieve(request, _ordered(Instance.objects.filter(series__study=found)).iterator())


@api_view(audit=auditing.RETRIEVE)
def retrieve_series(
    request: HttpRequest, scope: Scope, study: str, series: str
) -> HttpResponseBase:
    found = scope.series(study, series)
    return _retrieve(request, _ordered(Instance.objects.filter(series=found)).iterator())


@api_view(audit=auditing.RETRIEVE)
def retrieve_instance(
    request: HttpRequest, scope: Scope, study: str, series: str, instance: str
) -> HttpResponseBase:
    return _retrieve(request, [scope.instance(study, series, instance)])


def _instance_json(scope: Scope, instance: Instance) -> dict:
    """One instance's metadata; its bulk data (pixel data included) by URL, under the scope's
    root (PS3.18 F.2.6: BulkDataURI)."""
    uids = (
        instance.series.study.study_instance_uid,
        instance.series.series_instance_uid,
        instance.sop_instance_uid,
    )

    def bulk_uri(path: str) -> str:
        study, series, sop = uids
        return scope.url("studies", study, "series", series, "instances", sop, "bulkdata", path)

    return instance_json(instance, bulk_uri)


def _metadata(scope: Scope, instances: Iterable[Instance]) -> Iterator[bytes]:
    yield b"["
    first = True
    for instance in instances:
        try:
            item = _instance_json(scope, instance)
        except RenderError as error:
            logger.info("Metadata not read (instance %s): %s", instance.pk, error.reason)
            continue
        yield (b"" if first else b",") + json.dumps(item, allow_nan=False, default=str).encode()
        first = False
    yield b"]"


def _json_acceptable(request: HttpRequest) -> HttpResponseBase | None:
    try:
        negotiate(request, DICOM_JSON, (DICOM_JSON, "application/json"))
    except NotAcceptable as error:
        return text(str(error), 406)
    return None


def _metadata_response(
    request: HttpRequest, scope: Scope, instances: Iterable[Instance]
) -> HttpResponseBase:
    refused = _json_acceptable(request)
    if refused is not None:
        return refused
    response = StreamingHttpResponse(_metadata(scope, instances), content_type=DICOM_JSON)
    response["Cache-Control"] = "private, no-store"
    return response


def _with_series(instances):  # type: ignore[no-untyped-def]
    return instances.select_related("series__study").order_by(
        "series__series_number", "series_id", "instance_number", "id"
    )


@api_view(audit=auditing.RETRIEVE)
def study_metadata(request: HttpRequest, scope: Scope, study: str) -> HttpResponseBase:
    found = scope.study(study)
    instances = _with_series(Instance.objects.filter(series__study=found))
    return _metadata_response(request, scope, instances.iterator())


@api_view(audit=auditing.RETRIEVE)
def series_metadata(
    request: HttpRequest, scope: Scope, study: str, series: str
) -> HttpResponseBase:
    found = scope.series(study, series)
    instances = _with_series(Instance.objects.filter(series=found))
    return _metadata_response(request, scope, instances.iterator())


@api_view(audit=auditing.RETRIEVE)
def instance_metadata(
    request: HttpRequest, scope: Scope, study: str, series: str, instance: str
) -> HttpResponseBase:
    """One instance: answered whole (not streamed), so that a file that cannot be read is a
    422 rather than an empty list."""
    found = scope.instance(study, series, instance)
    refused = _json_acceptable(request)
    if refused is not None:
        return refused
    try:
        body = json.dumps([_instance_json(scope, found)], allow_nan=False, default=str)
    except RenderError as error:
        return text(error.reason, 422)
    return HttpResponse(
        body, content_type=DICOM_JSON, headers={"Cache-Control": "private, no-store"}
    )


# --- Bulk data (PS3.18 10.4.1.1.5) ------------------------------------------------------------


def _octets_acceptable(request: HttpRequest) -> bool:
    """Whether the Accept header allows multipart/related; type="application/octet-stream"."""
    accept = request.headers.get("Accept", "").lower()
    if not accept.strip():
        return True
    for media in accept.split(","):
        media = media.strip()
        if media.startswith(("*/*", "multipart/*", "application/octet-stream")):
            return True
        if media.startswith("multipart/related") and (
            "type" not in media or "application/octet-stream" in media or "*/*" in media
        ):
            return True
    return False


@api_view(audit=auditing.RETRIEVE)
def retrieve_bulkdata(
    request: HttpRequest, scope: Scope, study: str, series: str, instance: str, path: str
) -> HttpResponseBase:
    """The value of a binary attribute (as the metadata's BulkDataURI names it), streamed from
    the stored file as one application/octet-stream part. Encapsulated pixel data is sent as
    its frames, each in the stored compressed syntax, as /frames sends them."""
    found = scope.instance(study, series, instance)
    try:
        bulk = find_bulk(found, path)
    except NotBulkData as error:
        return text(str(error), 404)
    except RenderError as error:
        return text(error.reason, 422)
    if bulk.encapsulated:
        bulk.header.close()
        return _encapsulated_pixel_data(request, found)
    if not _octets_acceptable(request):
        bulk.header.close()
        return text(
            'Bulk data is available as multipart/related; type="application/octet-stream".', 406
        )
    boundary = secrets.token_hex(16)
    response = StreamingHttpResponse(
        _one_part(bulk.chunks(), boundary),
        content_type=f'multipart/related; type="application/octet-stream"; boundary={boundary}',
    )
    response["Cache-Control"] = "private, no-store"
    return response


def _one_part(chunks: Iterator[bytes], boundary: str) -> Iterator[bytes]:
    yield f"--{boundary}\r\nContent-Type: application/octet-stream\r\n\r\n".encode()
    try:
        yield from chunks
    except (OSError, RenderError):
        # The response has started: the client sees a short part and the missing close.
        logger.exception("Bulk data could not be read to the end")
        return
    yield f"\r\n--{boundary}--\r\n".encode()


def _encapsulated_pixel_data(request: HttpRequest, instance: Instance) -> HttpResponseBase:
    syntax = instance.transfer_syntax_uid
    if syntax not in FRAME_MEDIA:
        return text("This pixel data is not available as bulk data; retrieve the instance.", 406)
    numbers = list(range(1, instance.number_of_frames + 1))
    return _frames_response(instance, numbers, True)


# --- Frames (PS3.18 10.4.1.1.4) ---------------------------------------------------------------

UNCOMPRESSED = "1.2.840.10008.1.2.1"
# The media type of a frame kept in its stored compressed transfer syntax (PS3.18 8.7.3).
FRAME_MEDIA = {
    "1.2.840.10008.1.2.4.50": "image/jpeg",
    "1.2.840.10008.1.2.4.51": "image/jpeg",
    "1.2.840.10008.1.2.4.57": "image/jpeg",
    "1.2.840.10008.1.2.4.70": "image/jpeg",
    "1.2.840.10008.1.2.4.80": "image/jls",
    "1.2.840.10008.1.2.4.81": "image/jls",
    "1.2.840.10008.1.2.4.90": "image/jp2",
    "1.2.840.10008.1.2.4.91": "image/jp2",
    "1.2.840.10008.1.2.5": "image/dicom-rle",
}


def _frame_numbers(value: str, count: int) -> list[int]:
    try:
        numbers = [int(part) for part in value.split(",")]
    except ValueError:
        raise BadRequest("Frames are listed as numbers separated by commas, e.g. 1,2,3.") from None
    if not numbers or len(numbers) > 1000:
        raise BadRequest("Ask for between 1 and 1000 frames at a time.")
    for number in numbers:
        if not 1 <= number <= count:
            raise Http404(f"Frame {number} does not exist; this instance has {count}.")
    return numbers


def _wants_original(request: HttpRequest, syntax: str) -> bool:
    """Whether the client asks for the stored compressed bytes (transfer-syntax=* or the
    stored syntax, or its media type); otherwise frames are sent decoded, uncompressed."""
    accept = request.headers.get("Accept", "").lower()
    media = FRAME_MEDIA.get(syntax)
    return media is not None and (
        "transfer-syntax=*" in accept or f"transfer-syntax={syntax}" in accept or media in accept
    )


def _frames(
    instance: Instance, numbers: list[int], original: bool, boundary: str
) -> Iterator[bytes]:
    source = frames._source(instance)
    info = rendering.read_info(source)
    rendering.check_limits(info, frames.limits())
    syntax = info.transfer_syntax
    for number in numbers:
        if original:
            # A local path is opened per frame; an object-storage stream reads by ranges.
            with open(source, "rb") if isinstance(source, str) else nullcontext(source) as handle:
                handle.seek(info.value_offset or 0)
                data = pydicom.encaps.get_frame(
                    handle,
                    number - 1,
                    number_of_frames=info.frames,
                    extended_offsets=info.extended_offsets,
                )
            part_type = f"{FRAME_MEDIA[syntax]}; transfer-syntax={syntax}"
        else:
            array = rendering.decode_frame(info, source, number - 1)
            data = array.astype(array.dtype.newbyteorder("<")).tobytes()
            part_type = f"application/octet-stream; transfer-syntax={UNCOMPRESSED}"
        yield f"--{boundary}\r\nContent-Type: {part_type}\r\n\r\n".encode() + data + b"\r\n"
    yield f"--{boundary}--\r\n".encode()


@api_view(audit=auditing.FRAMES)
def retrieve_frames(
    request: HttpRequest, scope: Scope, study: str, series: str, instance: str, numbers: str
) -> HttpResponseBase:
    found = scope.instance(study, series, instance)
    wanted = _frame_numbers(numbers, found.number_of_frames)
    syntax = found.transfer_syntax_uid
    if syntax == "1.2.840.10008.1.2.1.99":
        return text("Frames of a deflated file are not available; retrieve the instance.", 406)
    original = _wants_original(request, syntax)
    return _frames_response(found, wanted, original)


def _frames_response(instance: Instance, numbers: list[int], original: bool) -> HttpResponseBase:
    boundary = secrets.token_hex(16)
    part = FRAME_MEDIA[instance.transfer_syntax_uid] if original else "application/octet-stream"
    try:
        # The first frame is made before answering, so that a file that cannot be decoded is a
        # 422 rather than a broken stream; the others follow one at a time.
        stream = _frames(instance, numbers, original, boundary)
        first = next(stream)
    except RenderError as error:
        return text(error.reason, 422)
    response = StreamingHttpResponse(
        itertools.chain([first], stream),
        content_type=f'multipart/related; type="{part}"; boundary={boundary}',
    )
    response["Cache-Control"] = "private, no-store"
    return response
