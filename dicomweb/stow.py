"""STOW-RS (PS3.18 10.5): POST multipart/related; type="application/dicom" to a worklist's root.

The body is read a chunk at a time and each part is spooled to a temporary file (never a
whole part or the whole body in memory), within the upload limits; each part goes through the
same ingest as an upload (`studies.services.IngestSession`, as the caller, who needs "upload
studies" on the worklist). The answer is the standard one: ReferencedSOPSequence for what was
stored (or was already there), FailedSOPSequence with a reason for the rest; 200 when all were
stored, 202 when some were, 409 when none was.
"""

from __future__ import annotations

import json
import logging
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

import pydicom
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase

from studies.dicom import human_size
from studies.models import WorklistEntry
from studies.services import IngestSession

from . import auditing
from .api import DICOM_JSON, BadRequest, api_view, text
from .qido import element, search_studies
from .scope import Scope

logger = logging.getLogger(__name__)

READ = 64 * 1024
MAX_HEADERS = 16 * 1024
PROCESSING_FAILURE = 0x0110
CANNOT_UNDERSTAND = 0xC000
OUT_OF_RESOURCES = 0xA700


@dataclass
class Part:
    content_type: str
    body: IO[bytes] | None  # None: refused before it was kept (`refused` says why)
    refused: str = ""


def _boundary(content_type: str) -> str:
    media = content_type.split(";")[0].strip().lower()
    params = dict(
        (name.strip().lower(), value.strip().strip('"'))
        for name, _, value in (p.partition("=") for p in content_type.split(";")[1:])
    )
    if media != "multipart/related":
        raise _Unsupported('Send multipart/related; type="application/dicom".')
    kind = params.get("type", "application/dicom").lower()
    if kind != "application/dicom":
        raise _Unsupported(f'Only type="application/dicom" can be stored, not {kind}.')
    boundary = params.get("boundary", "")
    if not re.fullmatch(r"[0-9A-Za-z'()+_,\-./:=? ]{1,70}", boundary):
        raise BadRequest("The multipart body has no valid boundary.")
    return boundary


class _Unsupported(Exception):
    pass


def parts(stream: Any, boundary: str, max_part: int, max_total: int) -> Iterator[Part]:
    """Each part of a multipart body read from `stream`, spooled to a temporary file; a part
    over `max_part` (or past `max_total` in all) is skipped to its end and refused."""
    delimiter = b"\r\n--" + boundary.encode()
    buffer = b"\r\n"  # the first delimiter has no CRLF before it
    total = 0

    def fill() -> bool:
        nonlocal buffer, total
        chunk = stream.read(READ)
        total += len(chunk)
        buffer += chunk
        return bool(chunk)

    while (at := buffer.find(delimiter)) < 0:
        buffer = buffer[-len(delimiter) :]
        if not fill():
            raise BadRequest("The multipart body has no parts.")
    buffer = buffer[at + len(delimiter) :]
    while True:
        while len(buffer) < 2:
            if not fill():
                raise BadRequest("The multipart body ends without its closing delimiter.")
        if buffer.startswith(b"--"):
            return
        while (end := buffer.find(b"\r\n\r\n")) < 0:
            if len(buffer) > MAX_HEADERS or not fill():
                raise BadRequest("A part's headers are damaged or too long.")
        headers = buffer[:end].decode("latin-1").split("\r\n")
        buffer = buffer[end + 4 :]
        content_type = ""
        for line in headers:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-type":
                content_type = value.strip()
        spool: IO[bytes] | None = tempfile.SpooledTemporaryFile(max_size=1024 * 1024)  # noqa: SIM115
        size = 0
        refused = ""
        while True:
            at = buffer.find(delimiter)
            piece = buffer[:at] if at >= 0 else buffer[: max(0, len(buffer) - len(delimiter))]
            buffer = buffer[at + len(delimiter) :] if at >= 0 else buffer[len(piece) :]
            size += len(piece)
            if spool is not None:
                if size > max_part:
                    refused = f"The file is too large (the limit is {human_size(max_part)})."
                elif total > max_total:
                    refused = f"The request holds more than {human_size(max_total)}."
                if refused:
                    spool.close()
                    spool = None
                else:
                    spool.write(piece)
            if at >= 0:
                break
            if not fill():
                raise BadRequest("The multipart body ends in the middle of a part.")
        if spool is not None:
            spool.seek(0)
        yield Part(content_type=content_type, body=spool, refused=refused)


def _uids(body: IO[bytes]) -> tuple[str, str]:
    """(SOP Class UID, SOP Instance UID) of a part, for the answer; blank when unreadable."""
    try:
        body.seek(0)
        ds = pydicom.dcmread(
            body, stop_before_pixels=True, specific_tags=["SOPClassUID", "SOPInstanceUID"]
        )
        return str(ds.get("SOPClassUID", "")), str(ds.get("SOPInstanceUID", ""))
    except Exception:
        return "", ""
    finally:
        body.seek(0)


@api_view(methods=("POST",), need="upload_studies", audit=auditing.STORE)
def store_instances(request: HttpRequest, scope: Scope) -> HttpResponse:
    try:
        boundary = _boundary(request.headers.get("Content-Type", ""))
    except _Unsupported as error:
        return text(str(error), 415)
    assert scope.worklist is not None  # the URL has a share code
    session = IngestSession(
        actor=request.user,
        worklist=scope.worklist,
        source=WorklistEntry.Source.DICOMWEB,
        request=request,
    )
    stored: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    try:
        for number, part in enumerate(
            parts(
                request,
                boundary,
                settings.DICOM_MAX_FILE_SIZE,
                settings.DICOM_MAX_ARCHIVE_SIZE,
            ),
            start=1,
        ):
            media = part.content_type.split(";")[0].strip().lower()
            if part.body is None:
                failed.append(_failure("", "", OUT_OF_RESOURCES, part.refused))
                continue
            with part.body:
                sop_class, sop_instance = _uids(part.body)
                if media not in ("", "application/dicom"):
                    failed.append(
                        _failure(sop_class, sop_instance, CANNOT_UNDERSTAND, "Not DICOM.")
                    )
                    continue
                reason = session.add(f"part {number}", part.body)
            if reason is None:
                stored.append(_reference(scope, sop_class, sop_instance))
            else:
                failed.append(_failure(sop_class, sop_instance, CANNOT_UNDERSTAND, reason))
    finally:
        session.finish()
    return _answer(stored, failed)


def _reference(scope: Scope, sop_class: str, sop_instance: str) -> dict[str, Any]:
    item = {"00081150": element("UI", sop_class), "00081155": element("UI", sop_instance)}
    return item


def _failure(sop_class: str, sop_instance: str, status: int, reason: str) -> dict[str, Any]:
    """A FailedSOPSequence item: its Failure Reason code (PS3.4 B.2.3); the reason in words
    goes to the log only, since the response has no standard place for it."""
    logger.info("STOW-RS part refused: %s", reason)
    return {
        "00081150": element("UI", sop_class),
        "00081155": element("UI", sop_instance),
        "00081197": element("US", status),
    }


def _answer(stored: list[dict[str, Any]], failed: list[dict[str, Any]]) -> HttpResponse:
    body: dict[str, Any] = {}
    if failed:
        body["00081198"] = {"vr": "SQ", "Value": failed}
    if stored:
        body["00081199"] = {"vr": "SQ", "Value": stored}
    if not failed and not stored:
        raise BadRequest("The request held no DICOM instances.")
    status = 200 if not failed else 202 if stored else 409
    return HttpResponse(json.dumps(body), status=status, content_type=DICOM_JSON)


def store_or_search(request: HttpRequest, share_code: str) -> HttpResponseBase:
    """`/dicomweb/worklists/{share_code}/studies`: POST stores (STOW-RS), GET searches (QIDO-RS)."""
    if request.method == "POST":
        return store_instances(request, share_code=share_code)
    return search_studies(request, share_code=share_code)
