"""Upload sessions, and the clinician's "fetch this upload link for this user".

Passing an upload link's gate starts an upload session in the browser's session: the link's
id, the uploads it started and when it was last seen. Every request of the upload page checks
it against the link itself, so deleting, disabling, locking, expiring or using up the link
ends it at once. It ends after UPLOADLINK_SESSION_IDLE_SECONDS without a request.
"""

import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.http import Http404, HttpRequest
from django.utils import timezone

from links.access import get_link_for_user

from .models import Upload, UploadLink

SESSION_KEY = "uploadlink"
_CACHE_ATTR = "_upload_session"


@dataclass(frozen=True)
class UploadSession:
    link: UploadLink
    upload_ids: frozenset[str]


def upload_session_start(request: HttpRequest, *, link: UploadLink) -> None:
    """Begin an upload session under a new session key (a signed-in clinician stays signed in:
    the session grants nothing but uploads through this link)."""
    request.session.cycle_key()
    request.session[SESSION_KEY] = {"link": link.pk, "uploads": [], "seen": int(time.time())}
    if hasattr(request, _CACHE_ATTR):
        delattr(request, _CACHE_ATTR)


def upload_session_add(request: HttpRequest, upload: Upload) -> None:
    data = request.session.get(SESSION_KEY) or {}
    data["uploads"] = [*data.get("uploads", [])[-50:], str(upload.public_id)]
    request.session[SESSION_KEY] = data
    if hasattr(request, _CACHE_ATTR):
        delattr(request, _CACHE_ATTR)


def _load(request: HttpRequest) -> UploadSession | None:
    session = getattr(request, "session", None)
    data = session.get(SESSION_KEY) if session is not None else None
    if session is None or not isinstance(data, dict):
        return None
    now = time.time()
    seen = int(data.get("seen", 0))
    if now - seen >= settings.UPLOADLINK_SESSION_IDLE_SECONDS:
        del session[SESSION_KEY]
        return None
    link = (
        UploadLink.objects.select_related("worklist", "created_by__organisation")
        .filter(pk=int(data.get("link", 0)))
        .first()
    )
    if link is None or not link.allows_session_at(timezone.now()):
        return None  # kept: the uploads already completed still show their summaries
    if now - seen >= 60:
        data["seen"] = int(now)
        session[SESSION_KEY] = data
    return UploadSession(link=link, upload_ids=frozenset(data.get("uploads", [])))


def get_upload_session(request: HttpRequest) -> UploadSession | None:
    """The request's live upload session (its link still takes uploads), checked once per
    request."""
    if not hasattr(request, _CACHE_ATTR):
        setattr(request, _CACHE_ATTR, _load(request))
    return getattr(request, _CACHE_ATTR)


def get_session_upload(request: HttpRequest, public_id: Any, *, live: bool = True) -> Upload:
    """An upload this browser started through its upload session (else 404). With
    `live=False`, also once the link no longer takes uploads (to show a summary)."""
    data = getattr(request, "session", {}).get(SESSION_KEY)
    if not isinstance(data, dict) or str(public_id) not in data.get("uploads", []):
        raise Http404("No such upload.")
    if live:
        guest = get_upload_session(request)
        if guest is None:
            raise Http404("No such upload.")
    upload = Upload.objects.select_related("link__worklist").filter(public_id=public_id).first()
    if upload is None or upload.link_id != int(data.get("link", 0)):
        raise Http404("No such upload.")
    return upload


def get_uploadlink_for_user(user: Any, public_id: Any) -> UploadLink:
    """An upload link its creator or a member of its worklist may see (else 404)."""
    return get_link_for_user(UploadLink.objects.all(), user, public_id)
