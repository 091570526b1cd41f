"""WADO-RS (PS3.18 10.4): studies, series and instances as multipart/related application/dicom
(streamed from storage a chunk at a time, never built in memory), and their metadata as
application/dicom+json (one instance's attributes at a time)."""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Iterable, Iterator

from django.http import HttpRequest, StreamingHttpResponse
from django.http.response import HttpResponseBase

from studies.models import Instance
from studies.rendering import RenderError

from .api import DICOM_JSON, api_view, text
from .scope import Scope
from .views import instance_metadata_json

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


@api_view()
def retrieve_study(request: HttpRequest, scope: Scope, study: str) -> HttpResponseBase:
    found = scope.study(study)
    return _retrieve(request, _ordered(Instance.objects.filter(series__study=found)).iterator())


@api_view()
def retrieve_series(
    request: HttpRequest, scope: Scope, study: str, series: str
) -> HttpResponseBase:
    found = scope.series(study, series)
    return _retrieve(request, _ordered(Instance.objects.filter(series=found)).iterator())


@api_view()
def retrieve_instance(
    request: HttpRequest, scope: Scope, study: str, series: str, instance: str
) -> HttpResponseBase:
    return _retrieve(request, [scope.instance(study, series, instance)])


def _metadata(instances: Iterable[Instance]) -> Iterator[bytes]:
    yield b"["
    first = True
    for instance in instances:
        try:
            items = instance_metadata_json(instance)
        except RenderError as error:
            logger.info("Metadata not read (instance %s): %s", instance.pk, error.reason)
            continue
        for item in items:
            yield (b"" if first else b",") + json.dumps(item).encode()
            first = False
    yield b"]"


def _metadata_response(instances: Iterable[Instance]) -> HttpResponseBase:
    response = StreamingHttpResponse(_metadata(instances), content_type=DICOM_JSON)
    response["Cache-Control"] = "private, no-store"
    return response


@api_view()
def study_metadata(request: HttpRequest, scope: Scope, study: str) -> HttpResponseBase:
    found = scope.study(study)
    instances = Instance.objects.filter(series__study=found).order_by(
        "series__series_number", "series_id", "instance_number", "id"
    )
    return _metadata_response(instances.iterator())


@api_view()
def series_metadata(
    request: HttpRequest, scope: Scope, study: str, series: str
) -> HttpResponseBase:
    found = scope.series(study, series)
    instances = Instance.objects.filter(series=found).order_by("instance_number", "id")
    return _metadata_response(instances.iterator())


@api_view()
def instance_metadata(
    request: HttpRequest, scope: Scope, study: str, series: str, instance: str
) -> HttpResponseBase:
    return _metadata_response([scope.instance(study, series, instance)])
