"""The guest side of who may see a study; the clinician side is `worklists_for_user`, and
`dicomweb.frames` joins both on every image request."""

from django.http import HttpRequest


def guest_study_ids(request: HttpRequest) -> set[int]:
    """Study ids the request's guest session may see (filled in by the guest-links app)."""
    from guestlinks import access

    return access.guest_study_ids(request)


def guest_link_ended_message(request: HttpRequest) -> str | None:
    """For a guest whose link was deleted, locked or expired while viewing: whom to ask for a
    new one (filled in by the guest-links app); None otherwise."""
    from guestlinks import access

    return access.guest_link_ended_message(request)
