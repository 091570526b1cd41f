"""The guest side of who may see a study; the clinician side is `worklists_for_user`, and
`dicomweb.frames` joins both on every image request. The guest-links app registers the guest
side (studies.registry), so studies never imports it."""

from django.http import HttpRequest

from .registry import guest_access


def guest_study_ids(request: HttpRequest) -> set[int]:
    """Study ids the request's guest session may see (none without a guest-access provider)."""
    ids: set[int] = set()
    for access in guest_access():
        ids |= access.guest_study_ids(request)
    return ids


def guest_link_ended_message(request: HttpRequest) -> str | None:
    """For a guest whose link was deleted, locked or expired while viewing: whom to ask for a
    new one; None otherwise."""
    for access in guest_access():
        message = access.guest_link_ended_message(request)
        if message:
            return message
    return None
