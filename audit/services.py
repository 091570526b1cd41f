import ipaddress
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import transaction
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
    """Append one event to the audit trail. Call it inside the write's own transaction."""
    if actor is not None and not getattr(actor, "is_authenticated", False):
        actor = None
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


# The series whose images this browser session has been recorded viewing. The viewer fetches
# a series frame by frame: the first frame of a series records one event, and the session
# remembers it, so every later frame costs nothing here (no query, no write).
VIEWED_SERIES_SESSION_KEY = "audit_viewed_series"
# A session remembers this many series; one that views more records a series again after it
# has been forgotten, which is harmless (an extra line), while the session stays small.
VIEWED_SERIES_REMEMBERED = 200


def record_series_viewed(
    *,
    request: HttpRequest,
    study_instance_uid: str,
    series_instance_uid: str,
    guest_link_id: UUID | None = None,
) -> bool:
    """Record "images viewed" once per browser session and series; True when it recorded.

    Requests without a session (nothing to remember it in) record nothing: viewing images is
    a browser's, through a clinician's or a guest's session."""
    session = getattr(request, "session", None)
    if session is None or session.session_key is None:
        return False
    user = getattr(request, "user", None)
    signed_in = getattr(user, "is_authenticated", False)
    # Who viewed it, with the series: a browser that was a guest and then signs in (the
    # session keeps its data through a login) is a new viewer, recorded again.
    viewer = f"user:{user.pk}" if signed_in and user is not None else f"link:{guest_link_id}"
    memo = f"{viewer}:{series_instance_uid}"
    seen = session.get(VIEWED_SERIES_SESSION_KEY)
    seen = list(seen) if isinstance(seen, list) else []
    if memo in seen:
        return False
    with transaction.atomic():
        record_event(
            action=AuditEvent.Action.IMAGES_VIEWED,
            actor=user,
            request=request,
            guest_link_id=guest_link_id,
            study_instance_uid=study_instance_uid,
            details={"series": series_instance_uid},
        )
    seen.append(memo)
    session[VIEWED_SERIES_SESSION_KEY] = seen[-VIEWED_SERIES_REMEMBERED:]
    return True


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
    if result == "wrong_password":
        return f"{kind}_locked" if locked else f"{kind}_wrong_password"
    return f"{kind}_attempt"
