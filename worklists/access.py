"""Access helpers: fetch and authorise in one call."""

from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404

from .models import Worklist
from .selectors import worklist_permissions


def get_worklist_for_user(user: Any, public_id: Any, need: str = "view_studies") -> Worklist:
    """A worklist the user is a member of (else 404), on which they hold `need` (else 403)."""
    worklist = Worklist.objects.select_related("organisation").filter(public_id=public_id).first()
    if worklist is None:
        raise Http404("No such worklist.")
    permissions = worklist_permissions(user, worklist)
    if not permissions:
        raise Http404("No such worklist.")
    if need not in permissions:
        raise PermissionDenied("Your role on this worklist does not allow that.")
    return worklist
