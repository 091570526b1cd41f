"""The clinician's "fetch this link for this user", for every kind of link."""

from typing import Any, TypeVar

from django.db.models import QuerySet
from django.http import Http404

from worklists.access import worklist_permissions

L = TypeVar("L")


def get_link_for_user(links: QuerySet[Any], user: Any, public_id: Any) -> Any:
    """A link its creator or a member of its worklist may see (else 404); what they may change
    is the kind's service to decide (403)."""
    link = links.select_related("worklist", "created_by").filter(public_id=public_id).first()
    if link is None:
        raise Http404("No such link.")
    if link.created_by_id != user.pk and not worklist_permissions(user, link.worklist):
        raise Http404("No such link.")
    return link
