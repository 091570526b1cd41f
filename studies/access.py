"""Who may see a study. The guest side comes from the apps that register guest access
(studies.registry; the guest-links app does), so studies never imports them; the clinician side
asks `worklists.access` through the worklists that hold the study. `dicomweb.frames` joins both
on every image request."""

from typing import Any
from uuid import UUID

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest

from worklists.access import get_worklist_for_user, worklists_for_user
from worklists.models import Worklist

from .models import Study, WorklistEntry
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


def guest_link_id(request: HttpRequest) -> UUID | None:
    """The public id of the link behind the request's guest session (for the audit trail)."""
    for access in guest_access():
        link_id = access.guest_link_id(request)
        if link_id is not None:
            return link_id
    return None


# --- The clinician side: studies through the worklists that hold them -------------------------


def get_study_for_user(
    user: Any, public_id: Any, need: str = "view_studies"
) -> tuple[Study, list[Worklist]]:
    """The study and the worklists holding it on which the user holds `need` (by kind, then
    name). 404 when the user sees none of the worklists holding it, as if it did not exist;
    403 when they see one but may not do `need` in any."""
    study = Study.objects.filter(public_id=public_id).first()
    if study is None:
        raise Http404("No such study.")
    worklists = list(
        worklists_for_user(user, need)
        .filter(entries__study=study)
        .select_related("organisation")
        .order_by("kind", "name")
    )
    if not worklists:
        if worklists_for_user(user, None).filter(entries__study=study).exists():
            raise PermissionDenied("Your role does not allow viewing studies in this worklist.")
        raise Http404("No such study.")
    return study, worklists


def get_worklist_study_for_user(
    user: Any, worklist_public_id: Any, study_public_id: Any, need: str
) -> tuple[Worklist, Study]:
    """A worklist as `get_worklist_for_user` gives it (404, 403 without `need`) and one of its
    studies (404 when it is not in that worklist)."""
    worklist = get_worklist_for_user(user, worklist_public_id, need=need)
    entry = (
        WorklistEntry.objects.select_related("study")
        .filter(worklist=worklist, study__public_id=study_public_id)
        .first()
    )
    if entry is None:
        raise Http404("No such study in this worklist.")
    return worklist, entry.study
