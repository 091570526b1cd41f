"""Read paths for sharing: what a user may share to, what a share code is, a study's history."""

from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.urls import reverse
from django.utils import timezone

from accounts.models import Organisation, Partnership
from notifications.selectors import any_failed, deliveries_by_topic
from studies.models import Study, WorklistEntry
from worklists import sharecodes
from worklists.access import has_worklist_perm, worklist_permissions
from worklists.models import Membership, Worklist

from .models import Invitation, Share, delivery_topic

NOT_A_CODE = "share codes have 8 letters and digits, like 7KQ2-M9XD"

# The permission each channel needs on the source worklist, besides "share_study".
CHANNEL_PERMISSIONS: dict[str, str] = {
    Share.Channel.ORGANISATION: "share_with_organisations",
    Share.Channel.LOCATION: "share_with_locations",
    Share.Channel.GROUP: "share_with_groups",
    Share.Channel.PHYSICIAN: "share_with_users",
    Share.Channel.SHARE_CODE: "share_via_code",
    Share.Channel.EMAIL: "share_via_email",
}


def channels_for_user(user: Any, source_worklist: Worklist) -> list[str]:
    """The channels `user` may share through from `source_worklist` (none without share_study)."""
    permissions = worklist_permissions(user, source_worklist)
    if "share_study" not in permissions:
        return []
    return [channel for channel, perm in CHANNEL_PERMISSIONS.items() if perm in permissions]


def partner_organisations(user: Any) -> QuerySet[Organisation]:
    """Organisations an administrator allowed the user's organisation to share with."""
    if user.organisation_id is None:
        return Organisation.objects.none()
    return Organisation.objects.filter(
        incoming_partnerships__from_organisation_id=user.organisation_id, is_active=True
    ).order_by("name")


def organisation_worklists(user: Any, kind: str) -> QuerySet[Worklist]:
    """Locations or groups of the user's own organisation."""
    if user.organisation_id is None:
        return Worklist.objects.none()
    return Worklist.objects.filter(organisation_id=user.organisation_id, kind=kind).order_by("name")


def organisation_physicians(user: Any) -> QuerySet[Any]:
    """The colleagues `user` may share to as physicians: active people of the same organisation
    (not the user) whose personal worklist is there, leaving out staff-only accounts (an
    administrator who is a member of none of the organisation's worklists)."""
    if user.organisation_id is None:
        return get_user_model().objects.none()
    works_here = Membership.objects.filter(
        user=OuterRef("pk"), worklist__organisation_id=user.organisation_id
    ).exclude(worklist__kind=Worklist.Kind.PERSONAL)
    return (
        get_user_model()
        .objects.filter(
            organisation_id=user.organisation_id,
            is_active=True,
            personal_worklist__organisation_id=user.organisation_id,
        )
        .filter(Q(is_staff=False) | Exists(works_here))
        .exclude(pk=user.pk)
        .order_by("last_name", "first_name", "username")
    )


def share_code_worklist(text: str) -> Worklist | None:
    """The worklist a typed share code belongs to ('7kq2-m9xd', '7KQ2M9XD', ...), if any."""
    code = sharecodes.normalise(text)
    if not sharecodes.is_well_formed(code):
        return None
    return (
        Worklist.objects.select_related("organisation", "owner__organisation")
        .filter(share_code=code)
        .first()
    )


def worklist_organisation(worklist: Worklist) -> Organisation | None:
    """The organisation a worklist belongs to; a personal worklist belongs to its owner's
    (none for people invited from outside any organisation)."""
    if worklist.kind == Worklist.Kind.PERSONAL and worklist.owner is not None:
        return worklist.owner.organisation
    return worklist.organisation


def partnership_allows(from_organisation_id: int | None, to: Organisation | None) -> bool:
    """The partnership rule: a study may go from one organisation into another only where an
    administrator allowed it (a Partnership); within one organisation, or to people outside any
    organisation, it may always go. Checked when sharing and again when an invitation is
    accepted, so that both answer the same."""
    if to is None or to.pk == from_organisation_id:
        return True
    return (
        from_organisation_id is not None
        and Partnership.objects.filter(
            from_organisation_id=from_organisation_id, to_organisation=to
        ).exists()
    )


def partnership_refusal(user: Any, worklist: Worklist) -> str:
    """Why `user` may not share into `worklist` of another organisation ("" when they may)."""
    organisation = worklist_organisation(worklist)
    if partnership_allows(user.organisation_id, organisation):
        return ""
    return f"Your organisation may not share with {organisation}; an administrator can allow it."


@dataclass(frozen=True)
class ShareCodePreview:
    code: str
    found: bool
    well_formed: bool
    worklist: str = ""
    organisation: str = ""
    kind: str = ""
    refusal: str = ""  # why the user may not share there, if they may not

    @property
    def ok(self) -> bool:
        """The code names a worklist the user may share into."""
        return self.found and not self.refusal

    @property
    def text(self) -> str:
        if not self.well_formed:
            return f"“{self.code}” is not a share code: {NOT_A_CODE}."
        if not self.found:
            return f"No worklist has the share code {self.code}."
        where = f" at {self.organisation}" if self.organisation else ""
        text = f"{self.code} is {self.worklist} ({self.kind.lower()} worklist){where}."
        return f"{text} {self.refusal}" if self.refusal else text


def share_code_preview(text: str, *, user: Any) -> ShareCodePreview:
    code = sharecodes.normalise(text)
    shown = sharecodes.display(code) if code else text.strip()
    if not sharecodes.is_well_formed(code):
        return ShareCodePreview(code=shown, found=False, well_formed=False)
    worklist = share_code_worklist(code)
    if worklist is None:
        return ShareCodePreview(code=shown, found=False, well_formed=True)
    return ShareCodePreview(
        code=shown,
        found=True,
        well_formed=True,
        worklist=worklist.name,
        organisation=str(worklist.organisation or ""),
        kind=worklist.get_kind_display(),
        refusal=partnership_refusal(user, worklist),
    )


def studies_in_worklist(*, worklist: Worklist, public_ids: list[str]) -> list[Study]:
    """The studies with these public ids that are in `worklist` (the others are left out)."""
    entries = WorklistEntry.objects.filter(worklist=worklist, study__public_id__in=public_ids)
    return [
        entry.study for entry in entries.select_related("study").order_by("study__patient_name")
    ]


@dataclass
class StudySharing:
    shares: list[Share] = field(default_factory=list)
    invitations: list[Invitation] = field(default_factory=list)


def study_sharing(*, user: Any, study: Study, worklists: list[Worklist]) -> StudySharing:
    """The share history and pending invitations of `study` that `user` may know about.

    That is what was shared from or into a worklist where the user sees the study, and what
    the user shared themselves. Each pending invitation says whether the user may revoke it;
    each share and invitation carries the delivery state of its emails (`deliveries`).
    """
    history = list(
        Share.objects.filter(study=study)
        .filter(
            Q(source_worklist__in=worklists) | Q(target_worklist__in=worklists) | Q(shared_by=user)
        )
        .select_related(
            "shared_by", "source_worklist", "target_worklist__organisation", "target_user"
        )[:100]
    )
    invitations = list(
        Invitation.objects.filter(
            Q(source_worklist__in=worklists) | Q(invited_by=user),
            study=study,
            status=Invitation.Status.PENDING,
            expires_at__gt=timezone.now(),
        ).select_related("invited_by", "source_worklist")
    )
    deliveries = deliveries_by_topic(
        delivery_topic(share_id)
        for share_id in [share.pk for share in history] + [i.share_id for i in invitations]
    )
    invited = {invitation.share_id for invitation in invitations}  # shown with the invitation
    for share in history:
        share.deliveries = (  # type: ignore[attr-defined]
            [] if share.pk in invited else deliveries.get(share.delivery_topic, [])
        )
    for invitation in invitations:
        invitation.can_revoke = invitation_may_revoke(user, invitation)  # type: ignore[attr-defined]
        invitation.deliveries = deliveries.get(  # type: ignore[attr-defined]
            delivery_topic(invitation.share_id), []
        )
        invitation.send_again_url = (  # type: ignore[attr-defined]
            reverse("sharing:invitation_send_again", args=[invitation.public_id])
            if invitation.can_revoke and any_failed(invitation.deliveries)  # type: ignore[attr-defined]
            else ""
        )
    return StudySharing(shares=history, invitations=invitations)


REVOKE_DENIED = (
    "Only the person who invited, or someone who may share from that worklist, can revoke it."
)


def invitation_may_revoke(user: Any, invitation: Invitation) -> bool:
    if invitation.invited_by_id == user.pk:
        return True
    source = invitation.source_worklist
    return source is not None and has_worklist_perm(user, "share_study", source)


def invitation_visible_to(user: Any, invitation: Invitation) -> bool:
    if invitation.invited_by_id == user.pk:
        return True
    source = invitation.source_worklist
    return source is not None and has_worklist_perm(user, "view_studies", source)


# --- accepting an invitation --------------------------------------------------------------


def normalised_email(address: str) -> str:
    """How invited addresses are stored and compared: no surrounding spaces, lower case."""
    return address.strip().lower()


def masked_email(address: str) -> str:
    """Enough of an address for its owner to recognise it, and no more: j***@example.org."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}***@{domain}" if domain else "***"


def invited_address_matches(user: Any, invitation: Invitation) -> bool:
    """Whether `user`'s email is the address the invitation was sent to.

    An account's email counts as verified: people cannot change their own address in Cimar
    Share. It was set either by an administrator (Django admin) or by registering through an
    invitation link, which proves the address because the link was only ever mailed there. A
    self-service change of address, if one is added, must confirm the new address by email
    before it counts here.
    """
    return bool(user.email) and normalised_email(user.email) == normalised_email(invitation.email)


@dataclass(frozen=True)
class AcceptanceRefusal:
    reason: str  # "someone_else", "partnership" or "inactive" (for the audit trail)
    text: str

    @property
    def someone_else(self) -> bool:
        return self.reason == "someone_else"


def invitation_acceptance_refusal(user: Any, invitation: Invitation) -> AcceptanceRefusal | None:
    """Why `user` may not accept `invitation` (None when they may).

    Only the invited address may accept, and the study then lands in that person's personal
    worklist, so the rules of sharing into it apply as if the inviter had shared with them
    directly: their organisation must be active and the partnership rule must allow it.
    """
    if not invited_address_matches(user, invitation):
        return AcceptanceRefusal(
            "someone_else",
            f"This invitation was sent to {masked_email(invitation.email)}; log in as that "
            "person, or ask the sender to share the study with you.",
        )
    organisation = user.organisation
    if organisation is None:  # outside any organisation: open to everyone
        return None
    if not organisation.is_active:
        return AcceptanceRefusal(
            "inactive", f"{organisation} is not active, so studies cannot be shared into it."
        )
    sharer = invitation.invited_by
    if sharer is None or not partnership_allows(sharer.organisation_id, organisation):
        source = getattr(sharer, "organisation", None) or "The sender"
        return AcceptanceRefusal(
            "partnership",
            f"{source} may not share studies with {organisation}: an administrator has not "
            "allowed it. Ask the sender to share the study with you another way.",
        )
    return None
