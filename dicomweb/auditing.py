"""The audit trail of DICOMweb reads, as the UI's reads are recorded (issue 15).

One event per request: a search is `dicomweb_query` (PS3.15 "Query"); a retrieve of a study,
series or instance, of metadata or of bulk data is `dicomweb_retrieved` (for the study in the
URL); frames are "images viewed", once per session or API token and series, like the viewer's
(`audit.services.record_series_viewed`), however many frame requests a client makes. Each names
who (the user, and the API token by id and name; or the guest link), from where, the outcome,
and what was asked. A request refused because the caller may not see the study (or the
worklist) is `denied`: it gets the same 404 as one for a study that does not exist, and the
event holds only what the caller sent. Requests with no caller at all (401) and wrong methods
(405) are not recorded. STOW-RS is recorded by the ingest, as every upload is
(`study_uploaded`); a caller refused the worklist is recorded here, as a denied upload.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from audit.models import AuditEvent
from audit.services import record_read, record_series_viewed
from studies.access import guest_link_id

QUERY = "query"
RETRIEVE = "retrieve"
FRAMES = "frames"
STORE = "store"  # STOW-RS: the ingest records what is stored; only a refused caller here

MAX_QUERY_KEYS = 20
MAX_VALUE = 100  # characters of a query parameter's value kept


def _party(request: HttpRequest) -> dict[str, Any]:
    signed_in = getattr(request.user, "is_authenticated", False)
    return {
        "actor": request.user if signed_in else None,
        "guest_link_id": None if signed_in else guest_link_id(request),
    }


def _asked(resource: str, share_code: str | None, kwargs: dict[str, Any]) -> dict[str, Any]:
    """What the request named: the resource, the root, and the UIDs and path of its URL."""
    details: dict[str, Any] = {"resource": resource}
    if share_code is not None:
        details["worklist_share_code"] = share_code[:20]
    for name in ("series", "instance", "path", "numbers"):
        if name in kwargs:
            details[name] = str(kwargs[name])[:200]
    return details


def _query(request: HttpRequest) -> dict[str, list[str]]:
    keys = list(request.GET)[:MAX_QUERY_KEYS]
    return {key[:64]: [value[:MAX_VALUE] for value in request.GET.getlist(key)[:5]] for key in keys}


def record(
    request: HttpRequest,
    *,
    kind: str,
    resource: str,
    share_code: str | None,
    kwargs: dict[str, Any],
    status: int,
    denied: bool,
) -> None:
    """Record one DICOMweb read (see the module's docstring)."""
    if status in (401, 405) or (kind == STORE and not denied):
        return
    study = str(kwargs.get("study", ""))[:64]
    if denied:
        outcome = AuditEvent.Outcome.DENIED
    elif status < 400:
        outcome = AuditEvent.Outcome.SUCCESS
    else:
        outcome = AuditEvent.Outcome.FAILURE
    details = _asked(resource, share_code, kwargs)
    if outcome != AuditEvent.Outcome.SUCCESS:
        details["status"] = status
    party = _party(request)
    if kind == FRAMES and outcome == AuditEvent.Outcome.SUCCESS:
        record_series_viewed(
            request=request,
            study_instance_uid=study,
            series_instance_uid=str(kwargs.get("series", "")),
            guest_link_id=party["guest_link_id"],
            details={"resource": resource},
        )
        return
    if kind == QUERY:
        action = AuditEvent.Action.DICOMWEB_QUERY
        details["query"] = _query(request)
    elif kind == FRAMES:
        action = AuditEvent.Action.IMAGES_VIEWED
    elif kind == STORE:
        action = AuditEvent.Action.STUDY_UPLOADED
    else:
        action = AuditEvent.Action.DICOMWEB_RETRIEVED
    record_read(
        action=action,
        request=request,
        study_instance_uid=study,
        outcome=outcome,
        details=details,
        **party,
    )
