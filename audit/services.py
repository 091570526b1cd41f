from typing import Any
from uuid import UUID

from django.http import HttpRequest

from .models import AuditEvent


def client_ip(request: HttpRequest | None) -> str | None:
    """The client's address as the web server saw it (REMOTE_ADDR; set by a trusted proxy)."""
    if request is None:
        return None
    return request.META.get("REMOTE_ADDR") or None


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
