import hashlib
import ipaddress
import time
from typing import Any
from uuid import UUID

from django.conf import settings
from django.core.cache import cache
from django.db import OperationalError, connection, transaction
from django.http import HttpRequest

from .models import AuditEvent


def client_ip(request: HttpRequest | None) -> str | None:
    """The client's address: REMOTE_ADDR, or behind our own proxies (BEHIND_PROXY) the address
    the outermost of them saw.

    Each proxy appends the address it received the request from to X-Forwarded-For, so with
    TRUSTED_PROXY_COUNT proxies of ours the client is that many entries from the right; entries
    further left come from the client itself and are never trusted. An entry that is missing or
    not an IP address gives REMOTE_ADDR (our proxy) rather than anything the client wrote.
    """
    if request is None:
        return None
    remote = request.META.get("REMOTE_ADDR") or None
    hops = int(settings.TRUSTED_PROXY_COUNT)
    if not settings.BEHIND_PROXY or hops < 1:
        return remote
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    if len(forwarded) < hops:
        return remote
    try:
        address = ipaddress.ip_address(forwarded[-hops])
    except ValueError:
        return remote
    return remote if getattr(address, "scope_id", None) else str(address)


def api_token_of(request: HttpRequest | None) -> dict[str, str] | None:
    """The API token a request was signed in with, by its public id and name (never its
    secret or digest); None for a browser session, a guest or no request."""
    token = getattr(request, "api_token", None)
    public_id = getattr(token, "public_id", None)
    if public_id is None:
        return None
    return {"id": str(public_id), "name": str(getattr(token, "name", ""))[:100]}


def client_user_agent(request: HttpRequest | None) -> str:
    if request is None:
        return ""
    return request.META.get("HTTP_USER_AGENT", "")[:300]


def record_event(
    *,
    action: str,
    actor: Any = None,
    request: HttpRequest | None = None,
    guest_link_id: UUID | None = None,
    study_instance_uid: str = "",
    outcome: str = AuditEvent.Outcome.SUCCESS,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event to the audit trail. Call it inside the write's own transaction.

    A request signed in with an API token (accounts.tokens) names the token in the details:
    which of the user's tokens it was, and what it is for."""
    if actor is not None and not getattr(actor, "is_authenticated", False):
        actor = None
    token = api_token_of(request)
    if token is not None:
        details = {**(details or {}), "api_token": token}
    return AuditEvent.objects.create(
        action=action,
        actor=actor,
        actor_label=actor.get_username() if actor is not None else "",
        guest_link_id=guest_link_id,
        study_instance_uid=study_instance_uid,
        outcome=outcome,
        ip_address=client_ip(request),
        user_agent=client_user_agent(request),
        details=details or {},
    )


# "Images viewed" is recorded once per browser session, viewer and series. The viewer fetches a
# series frame by frame, often several at once: the first frame claims the series in the cache
# (`cache.add`, atomic in Redis; per process in the embedded demo) and writes the event; every
# later frame finds the claim and costs no query and no write, not even to the session (writing
# the session from parallel frame requests would race, and on SQLite lock the table).
VIEWED_SERIES_CACHE_PREFIX = "audit:viewed"


def record_series_viewed(
    *,
    request: HttpRequest,
    study_instance_uid: str,
    series_instance_uid: str,
    guest_link_id: UUID | None = None,
    details: dict[str, Any] | None = None,
) -> bool:
    """Record "images viewed" once per browser session (or API token), viewer and series; True
    when it did.

    Requests with neither a session nor a token (nothing to tie the viewing to) record nothing.
    A DICOMweb client's frames (an API token, no session) are tied to the token instead: one
    event per token and series, however many frame requests it makes."""
    token = api_token_of(request)
    session = getattr(request, "session", None)
    if token is not None:
        holder = f"token:{token['id']}"
    elif session is not None and session.session_key is not None:
        holder = session.session_key
    else:
        return False
    user = getattr(request, "user", None)
    signed_in = getattr(user, "is_authenticated", False)
    # Who viewed it: a browser that was a guest and then signs in is a new viewer.
    viewer = f"user:{user.pk}" if signed_in and user is not None else f"link:{guest_link_id}"
    digest = hashlib.sha256(f"{holder}|{viewer}|{series_instance_uid}".encode()).hexdigest()
    if not cache.add(f"{VIEWED_SERIES_CACHE_PREFIX}:{digest}", 1, timeout=VIEWED_SERIES_SECONDS):
        return False
    _record_with_retry(
        action=AuditEvent.Action.IMAGES_VIEWED,
        actor=user,
        request=request,
        guest_link_id=guest_link_id,
        study_instance_uid=study_instance_uid,
        details={"series": series_instance_uid, **(details or {})},
    )
    return True


# As long as a session may live: a claim outliving it is harmless (its key is never reused).
VIEWED_SERIES_SECONDS = 60 * 60 * 24


def record_read(**event: Any) -> None:
    """An event of a read (no write of its own to share a transaction with: a DICOMweb query
    or retrieve), in its own transaction; `record_event`'s arguments."""
    _record_with_retry(**event)


def _record_with_retry(**event: Any) -> None:
    """SQLite (the embedded demo) refuses a write while another thread writes ("table is
    locked") instead of waiting: try again briefly there. Elsewhere a failure is raised."""
    for attempt in range(5):
        try:
            with transaction.atomic():
                record_event(**event)
            return
        except OperationalError:
            if connection.vendor != "sqlite" or attempt == 4:
                raise
            time.sleep(0.05 * (attempt + 1))


def admin_change_details(*, obj: Any, change: Any = None) -> dict[str, Any]:
    """What an admin change names: the model, the object's id and text, and what changed
    (the admin's own change message: which fields, and which inline rows were added,
    changed or deleted)."""
    details: dict[str, Any] = {
        "model": obj._meta.label,
        "object_id": str(obj.pk) if obj.pk is not None else "",
        "object": str(obj)[:200],
    }
    if change:
        details["change"] = change
    return details


def link_attempt_action(*, kind: str, result: str, locked: bool = False) -> str:
    """The action for an attempt at a link's gate (`kind` "guestlink" or "uploadlink"): opened,
    a wrong password (or the one that locked the link), or refused (unusable, unknown, rate
    limited; its `result` is in the details)."""
    if result == "opened":
        return f"{kind}_opened"
    if locked:  # the wrong password (or one-time code) that locked the link
        return f"{kind}_locked"
    if result == "wrong_password":
        return f"{kind}_wrong_password"
    return f"{kind}_attempt"
