"""Read paths for guest links: find one by token, list a study's links for the panel."""

from typing import Any

from django.db.models import Count, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.urls import reverse

from links.gate import find_link
from notifications.selectors import any_failed, deliveries_by_topic
from studies.models import Study
from worklists.access import worklist_permissions
from worklists.models import Worklist

from .devices import describe_user_agent
from .models import GuestLink, GuestLinkAccess

RECENT_ACCESSES = 10
# The panel lists this many links, newest first, so the study page costs the same however many
# links a study gathers; older ones still work, and are in Django admin and the audit trail.
PANEL_LINKS = 50


def guestlink_find(token: str) -> GuestLink | None:
    """The link this URL token opens, looked up by digest and compared in constant time."""
    return find_link(
        GuestLink.objects.select_related("study", "worklist", "created_by__organisation"), token
    )


def study_guest_links(*, study: Study, worklist: Worklist) -> QuerySet[GuestLink]:
    """The study's links made in this worklist (those for several studies included, on each
    of them), newest first, with when and where each was last opened, how many studies it
    opens and its recent attempts: two queries whatever the number of links."""
    opened = GuestLinkAccess.objects.filter(
        link=OuterRef("pk"), outcome=GuestLinkAccess.Outcome.OPENED
    ).order_by("-created_at", "-id")
    included: Any = GuestLink.extra_studies.through.objects  # the link-study rows (auto M2M)
    extra_count = (
        included.filter(guestlink=OuterRef("pk"))
        .order_by()
        .values("guestlink")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return (
        GuestLink.objects.filter(
            Q(study=study) | Q(pk__in=included.filter(study=study).values("guestlink")),
            worklist=worklist,
        )
        .select_related("created_by")
        .annotate(
            extra_study_count=Coalesce(Subquery(extra_count), 0),
            last_opened_at=Subquery(opened.values("created_at")[:1]),
            last_opened_ip=Subquery(opened.values("ip_address")[:1]),
            last_opened_user_agent=Subquery(opened.values("user_agent")[:1]),
        )
        .prefetch_related(
            Prefetch(
                "accesses",
                queryset=GuestLinkAccess.objects.order_by("-created_at", "-id")[:RECENT_ACCESSES],
                to_attr="recent_accesses",
            )
        )
        .order_by("-created_at", "-id")
    )


def guestlinks_panel(*, user: Any, study: Study, worklist: Worklist) -> dict[str, Any] | None:
    """Everything the guest-link panel on the study page shows; None when it shows nothing.

    "view_guest_links" lists every link of the study in this worklist; a user who may only
    create links sees their own, so that they can copy them again.
    """
    from .forms import GuestLinkForm
    from .policy import link_organisation, policy_for, policy_limits

    permissions = worklist_permissions(user, worklist)
    can_create = "create_guest_links" in permissions
    can_view = "view_guest_links" in permissions
    if not (can_create or can_view):
        return None
    queryset = study_guest_links(study=study, worklist=worklist)
    if not can_view:
        queryset = queryset.filter(created_by=user)
    links: list[Any] = list(queryset[: PANEL_LINKS + 1])
    more = len(links) > PANEL_LINKS
    links = links[:PANEL_LINKS]
    deliveries = deliveries_by_topic(link.delivery_topic for link in links)
    for link in links:
        link.deliveries = deliveries.get(link.delivery_topic, [])
        link.can_delete = can_create or link.created_by_id == user.pk
        link.can_edit = link.can_delete and link.state != GuestLink.State.DELETED
        link.last_opened_device = describe_user_agent(link.last_opened_user_agent or "")
        link.send_again_url = (
            reverse("guestlinks:send_again", args=[link.public_id])
            if link.can_delete and link.is_usable and any_failed(link.deliveries)
            else ""
        )
    policy = policy_for(link_organisation(worklist=worklist, actor=user)) if can_create else None
    return {
        "can_create": can_create,
        "can_view": can_view,
        "links": links,
        "more_links": more,  # older links exist beyond the PANEL_LINKS listed
        "shown_links": PANEL_LINKS,
        "form": GuestLinkForm(study=study, policy=policy) if can_create else None,
        "policy_limits": policy_limits(policy) if policy is not None else [],
        "create_url": reverse(
            "guestlinks:create",
            kwargs={"worklist_id": worklist.public_id, "study_id": study.public_id},
        ),
    }
