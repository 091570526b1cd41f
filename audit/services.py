import ipaddress
from typing import Any
from uuid import UUID

from django.conf import settings
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
