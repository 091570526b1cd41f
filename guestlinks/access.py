"""Guest access: which studies the request's guest session reaches."""

from django.http import HttpRequest


def guest_study_ids(request: HttpRequest) -> set[int]:
    # Guest links arrive with their own issue; until then no guest session reaches anything.
    return set()
