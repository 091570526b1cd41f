"""Access helpers: fetch and authorise in one call."""

from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404

from studies.models import Study
from worklists.access import get_worklist_for_user, has_worklist_perm
from worklists.models import Worklist

from .models import Invitation
from .selectors import (
    REVOKE_DENIED,
    invitation_may_revoke,
    invitation_visible_to,
    studies_in_worklist,
)


def get_share_source_for_user(
    user: Any, public_id: Any, study_ids: list[str]
) -> tuple[Worklist, list[Study]]:
    """The worklist to share from (404 if not a member, 403 without share_study) and the
    chosen studies in it (404 when any of them is not there, or none was chosen)."""
    worklist = get_worklist_for_user(user, public_id, need="share_study")
    wanted = set(study_ids)
    try:
        studies = studies_in_worklist(worklist=worklist, public_ids=list(wanted))
    except ValidationError:  # not UUIDs
        raise Http404("No such study.") from None
    if not wanted or len(studies) != len(wanted):
        raise Http404("No such study in this worklist.")
    if not has_worklist_perm(user, "view_studies", worklist):
        raise PermissionDenied("Your role on this worklist does not let you see its studies.")
    return worklist, studies


def get_invitation_for_user(user: Any, public_id: Any, need: str = "view") -> Invitation:
    """An invitation the user sent or may see through its worklist (else 404); with
    need="revoke", one they may also revoke (else 403)."""
    invitation = (
        Invitation.objects.select_related("study", "source_worklist", "invited_by")
        .filter(public_id=public_id)
        .first()
    )
    if invitation is None or not invitation_visible_to(user, invitation):
        raise Http404("No such invitation.")
    if need == "revoke" and not invitation_may_revoke(user, invitation):
        raise PermissionDenied(REVOKE_DENIED)
    return invitation
