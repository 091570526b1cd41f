"""Write paths for sharing: share a study through any channel, and email invitations.

Every rule is checked here, so a request that bypasses the dialog gets the same answers.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone

from accounts.models import Organisation
from accounts.services import user_create
from audit.models import AuditEvent
from audit.services import record_event
from notifications.models import OutboundMessage
from notifications.services import notification_enqueue, topic_send_again
from studies.models import Study, WorklistEntry
from worklists import sharecodes
from worklists.access import has_worklist_perm, users_with_worklist_perm
from worklists.models import Worklist
from worklists.services import personal_worklist_ensure

from . import invitations as links
from .models import Invitation, Share, delivery_topic
from .selectors import (
    CHANNEL_PERMISSIONS,
    NOT_A_CODE,
    REVOKE_DENIED,
    AcceptanceRefusal,
    invitation_acceptance_refusal,
    invitation_may_revoke,
    normalised_email,
    organisation_physicians,
    partnership_allows,
    partnership_refusal,
    share_code_worklist,
    worklist_organisation,
)

CHANNEL_NAMES: dict[str, str] = {
    Share.Channel.ORGANISATION: "organisations",
    Share.Channel.LOCATION: "locations",
    Share.Channel.GROUP: "groups",
    Share.Channel.PHYSICIAN: "physicians",
    Share.Channel.SHARE_CODE: "share codes",
    Share.Channel.EMAIL: "email",
}


class Outcome:
    SHARED = "shared"
    ALREADY_THERE = "already_there"
    INVITED = "invited"
    REFUSED = "refused"

    LABELS = {
        SHARED: "Shared",
        ALREADY_THERE: "Already there",
        INVITED: "Invitation sent",
        REFUSED: "Refused",
    }


@dataclass(frozen=True)
class ShareTarget:
    """One target as the dialog names it: a channel and a key (a public id, a code, an address)."""

    channel: str
    key: str


@dataclass(frozen=True)
class ShareOutcome:
    target: ShareTarget
    label: str
    status: str
    reason: str = ""

    @property
    def status_label(self) -> str:
        return Outcome.LABELS[self.status]

    @property
    def ok(self) -> bool:
        return self.status != Outcome.REFUSED


class Refused(Exception):
    def __init__(self, reason: str, label: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.label = label


@dataclass(frozen=True)
class _Resolved:
    label: str
    worklist: Worklist | None = None
    user: Any = None
    email: str = ""


class _ShareAct(NamedTuple):
    """Who shares which study from where, with what message: the same for every target."""

    actor: Any
    study: Study
    source: Worklist
    message: str
    request: HttpRequest | None


# --- sharing -----------------------------------------------------------------------------


@transaction.atomic
def study_share(
    *,
    actor: Any,
    study: Study,
    source_worklist: Worklist,
    targets: list[ShareTarget],
    message: str = "",
    request: HttpRequest | None = None,
) -> list[ShareOutcome]:
    """Share one study from `source_worklist` to each target; one outcome per target."""
    message = (message or "").strip()[:2000]
    base_refusal = _base_refusal(actor, study, source_worklist)
    act = _ShareAct(actor, study, source_worklist, message, request)
    outcomes = []
    seen: set[tuple[str, str]] = set()
    for target in targets:
        if (target.channel, _dedupe_key(target)) in seen:
            continue
        seen.add((target.channel, _dedupe_key(target)))
        try:
            if base_refusal:
                raise Refused(base_refusal)
            outcome = _share_one(act, target)
        except Refused as refusal:
            outcome = ShareOutcome(
                target, refusal.label or target.key, Outcome.REFUSED, refusal.reason
            )
            record_event(
                action=AuditEvent.Action.STUDY_SHARED,
                actor=actor,
                request=request,
                study_instance_uid=study.study_instance_uid,
                outcome=AuditEvent.Outcome.DENIED,
                details={
                    "channel": target.channel,
                    "target": target.key[:254],
                    "reason": refusal.reason,
                },
            )
        outcomes.append(outcome)
    return outcomes


@transaction.atomic(durable=True)
def studies_share(
    *,
    actor: Any,
    studies: list[Study],
    source_worklist: Worklist,
    targets: list[ShareTarget],
    message: str = "",
    request: HttpRequest | None = None,
) -> dict[Study, list[ShareOutcome]]:
    """Share several studies to the same targets in one transaction (the dialog's entry point)."""
    return {
        study: study_share(
            actor=actor,
            study=study,
            source_worklist=source_worklist,
            targets=targets,
            message=message,
            request=request,
        )
        for study in studies
    }


def _dedupe_key(target: ShareTarget) -> str:
    if target.channel == Share.Channel.SHARE_CODE:
        return sharecodes.normalise(target.key)
    return target.key.strip().lower()


def _base_refusal(actor: Any, study: Study, source: Worklist) -> str:
    if not has_worklist_perm(actor, "share_study", source):
        return f"Your role on {source.name} does not allow sharing studies."
    visible = has_worklist_perm(actor, "view_studies", source)
    if not visible or not WorklistEntry.objects.filter(worklist=source, study=study).exists():
        return f"This study is not in {source.name} for you to share."
    return ""


def _share_one(act: _ShareAct, target: ShareTarget) -> ShareOutcome:
    actor, study, source, message, request = act
    permission = CHANNEL_PERMISSIONS.get(target.channel)
    if permission is None:
        raise Refused("Unknown way of sharing.")
    resolved = _RESOLVERS[target.channel](actor, target.key)
    if not has_worklist_perm(actor, permission, source):
        raise Refused(
            f"Your role on {source.name} does not allow sharing with "
            f"{CHANNEL_NAMES[target.channel]}.",
            resolved.label,
        )
    if resolved.worklist is None:  # an address with no account: invite
        return _invite(act, target, resolved)
    organisation = worklist_organisation(resolved.worklist)
    if organisation is not None and not organisation.is_active:
        raise Refused(f"{organisation} is not active.", resolved.label)
    # Into another organisation only where an administrator allowed it (share codes and the
    # addresses of its users included, not only the organisations channel).
    refusal = partnership_refusal(actor, resolved.worklist)
    if refusal:
        raise Refused(refusal, resolved.label)
    return _share_into(act, target, resolved)


def _share_into(act: _ShareAct, target: ShareTarget, resolved: _Resolved) -> ShareOutcome:
    actor, study, source, message, request = act
    worklist = resolved.worklist
    assert worklist is not None
    if WorklistEntry.objects.filter(worklist=worklist, study=study).exists():
        return ShareOutcome(
            target,
            resolved.label,
            Outcome.ALREADY_THERE,
            f"The study is already in {worklist.name}.",
        )
    share = Share(
        study=study,
        shared_by=actor,
        source_worklist=source,
        channel=target.channel,
        target_worklist=worklist,
        target_user=resolved.user,
        target_email=resolved.email,
        message=message,
    )
    share.full_clean()
    try:
        with transaction.atomic():  # a savepoint: a concurrent share of the same study wins
            share.entry = WorklistEntry.objects.create(
                worklist=worklist,
                study=study,
                added_by=actor,
                source=WorklistEntry.Source.SHARE,
            )
            share.save()
    except IntegrityError:
        return ShareOutcome(
            target,
            resolved.label,
            Outcome.ALREADY_THERE,
            f"The study is already in {worklist.name}.",
        )
    record_event(
        action=AuditEvent.Action.STUDY_SHARED,
        actor=actor,
        request=request,
        study_instance_uid=study.study_instance_uid,
        details={
            "share": share.pk,
            "channel": target.channel,
            "source_worklist": str(source.public_id),
            "target_worklist": str(worklist.public_id),
            **({"target_user": resolved.user.get_username()} if resolved.user else {}),
        },
    )
    recipients = (
        [resolved.user] if resolved.user is not None else _worklist_recipients(worklist, actor)
    )
    for recipient in recipients:
        if recipient.email:
            notification_enqueue(
                channel=OutboundMessage.Channel.EMAIL,
                recipient=recipient.email,
                template="share_received",
                context=_share_email_context(actor, study, worklist, message, recipient),
                **_delivery_watch(share, actor, source),
            )
    return ShareOutcome(target, resolved.label, Outcome.SHARED)


def _delivery_watch(share: Share, actor: Any, source: Worklist) -> dict[str, str]:
    """Who hears when a share's email fails for good, and the page where it shows."""
    path = reverse("studies:detail", args=[share.study.public_id])
    return {
        "topic": share.delivery_topic,
        "sender_email": actor.email or "",
        "sender_path": f"{path}?worklist={source.public_id}#share-history",
    }


def _worklist_recipients(worklist: Worklist, actor: Any) -> list[Any]:
    """Active users who may view the studies of `worklist` (through a role or a grant made in
    Django admin), but not the sharer."""
    return list(
        users_with_worklist_perm("view_studies", worklist).exclude(pk=actor.pk).exclude(email="")
    )


def _share_email_context(
    actor: Any, study: Study, worklist: Worklist, message: str, recipient: Any
) -> dict[str, Any]:
    # Minimal: no patient details. The study page (behind login) shows the rest, and the message.
    path = reverse("studies:detail", args=[study.public_id])
    return {
        "recipient_name": recipient.display_name,
        "sharer_name": actor.display_name,
        "sharer_organisation": str(actor.organisation or ""),
        "worklist_name": worklist.name,
        "study_path": f"{path}?worklist={worklist.public_id}",
        "has_message": bool(message),
    }


# --- resolving targets ----------------------------------------------------------------------


def _by_public_id(queryset: Any, key: str) -> Any:
    try:
        return queryset.filter(public_id=key).first()
    except ValidationError:  # not a UUID
        return None


def _resolve_organisation(actor: Any, key: str) -> _Resolved:
    organisation = _by_public_id(Organisation.objects.all(), key)
    if organisation is None:
        raise Refused("No such organisation.")
    label = organisation.name
    if actor.organisation_id is None:
        raise Refused(
            "You are not part of an organisation, so you cannot share with organisations.", label
        )
    if organisation.pk == actor.organisation_id:
        raise Refused(
            "That is your own organisation: share with one of its locations or groups.", label
        )
    if not partnership_allows(actor.organisation_id, organisation):
        raise Refused(
            f"{actor.organisation} may not share with {organisation}: an administrator has not "
            "allowed it.",
            label,
        )
    worklist = organisation.worklists.filter(kind=Worklist.Kind.ORGANISATION).first()
    if worklist is None:
        raise Refused(f"{organisation} has no organisation worklist to receive studies.", label)
    return _Resolved(label=label, worklist=worklist)


def _organisation_worklist_resolver(kind: str, noun: str) -> Any:
    def resolve(actor: Any, key: str) -> _Resolved:
        worklist = None
        if actor.organisation_id is not None:
            worklist = _by_public_id(
                Worklist.objects.filter(organisation_id=actor.organisation_id, kind=kind), key
            )
        if worklist is None:
            raise Refused(f"No such {noun} in your organisation.")
        return _Resolved(label=worklist.name, worklist=worklist)

    return resolve


def _resolve_physician(actor: Any, key: str) -> _Resolved:
    user = _by_public_id(organisation_physicians(actor), key)
    if user is None:
        raise Refused("No such physician in your organisation.")
    return _Resolved(
        label=user.display_name, worklist=personal_worklist_ensure(user=user), user=user
    )


def _resolve_share_code(actor: Any, key: str) -> _Resolved:
    code = sharecodes.normalise(key)
    if not sharecodes.is_well_formed(code):
        raise Refused(
            f"That is not a share code: {NOT_A_CODE}.",
            key.strip()[:40],
        )
    shown = sharecodes.display(code)
    worklist = share_code_worklist(code)
    if worklist is None:
        raise Refused(f"No worklist has the share code {shown}.", shown)
    where = f", {worklist.organisation}" if worklist.organisation else ""
    return _Resolved(
        label=f"{worklist.name} ({shown}{where})", worklist=worklist, user=worklist.owner
    )


def _resolve_email(actor: Any, key: str) -> _Resolved:
    email = normalised_email(key)
    try:
        validate_email(email)
    except ValidationError:
        raise Refused("That is not an email address.", key.strip()[:254]) from None
    user = (
        get_user_model().objects.filter(email__iexact=email, is_active=True).order_by("pk").first()
    )
    if user is None:
        return _Resolved(label=email, email=email)
    return _Resolved(
        label=email, worklist=personal_worklist_ensure(user=user), user=user, email=email
    )


_RESOLVERS: dict[str, Callable[[Any, str], _Resolved]] = {
    Share.Channel.ORGANISATION: _resolve_organisation,
    Share.Channel.LOCATION: _organisation_worklist_resolver(Worklist.Kind.LOCATION, "location"),
    Share.Channel.GROUP: _organisation_worklist_resolver(Worklist.Kind.GROUP, "group"),
    Share.Channel.PHYSICIAN: _resolve_physician,
    Share.Channel.SHARE_CODE: _resolve_share_code,
    Share.Channel.EMAIL: _resolve_email,
}


# --- invitations --------------------------------------------------------------------------


def _invite(act: _ShareAct, target: ShareTarget, resolved: _Resolved) -> ShareOutcome:
    actor, study, source, message, request = act
    email, now = resolved.email, timezone.now()
    pending = Invitation.objects.filter(email=email, study=study, status=Invitation.Status.PENDING)
    if pending.filter(expires_at__gt=now).exists():
        return ShareOutcome(
            target,
            email,
            Outcome.ALREADY_THERE,
            "An invitation to this address for this study is pending.",
        )
    pending.update(status=Invitation.Status.EXPIRED)  # an expired one is replaced by a new one
    share = Share(
        study=study,
        shared_by=actor,
        source_worklist=source,
        channel=Share.Channel.EMAIL,
        target_email=email,
        message=message,
    )
    share.full_clean()
    invitation = Invitation(
        email=email,
        study=study,
        invited_by=actor,
        source_worklist=source,
        expires_at=now + links.max_age(),
    )
    try:
        with transaction.atomic():
            share.save()
            invitation.share = share
            invitation.full_clean()
            invitation.save()
    except (IntegrityError, ValidationError):  # a concurrent invitation to the same address
        return ShareOutcome(
            target,
            email,
            Outcome.ALREADY_THERE,
            "An invitation to this address for this study is pending.",
        )
    for action in (AuditEvent.Action.STUDY_SHARED, AuditEvent.Action.INVITATION_CREATED):
        record_event(
            action=action,
            actor=actor,
            request=request,
            study_instance_uid=study.study_instance_uid,
            details={
                "share": share.pk,
                "channel": Share.Channel.EMAIL,
                "invitation": str(invitation.public_id),
                "email": email,
            },
        )
    notification_enqueue(
        channel=OutboundMessage.Channel.EMAIL,
        recipient=email,
        template="invitation",
        context={
            # Who shared, from where, and how to get it. No patient, no study details.
            "inviter_name": actor.display_name,
            "inviter_organisation": str(actor.organisation or ""),
            # The public id only: the signed link is made when the email renders, so the
            # outbox never holds a usable URL (see sharing/delivery.py).
            "invitation_id": str(invitation.public_id),
            "expires_on": timezone.localdate(invitation.expires_at).strftime("%d %B %Y"),
            "has_message": bool(message),
        },
        **_delivery_watch(share, actor, source),
    )
    return ShareOutcome(
        target,
        email,
        Outcome.INVITED,
        "No account uses this address yet: an invitation to register was sent.",
    )


def _invitation_accept(invitation: Invitation, user: Any, request: HttpRequest | None) -> bool:
    """Honour one invitation for `user`: the study lands in their personal worklist."""
    now = timezone.now()
    won = Invitation.objects.filter(
        pk=invitation.pk, status=Invitation.Status.PENDING, expires_at__gt=now
    ).update(status=Invitation.Status.ACCEPTED, accepted_at=now, accepted_by=user)
    if not won:
        return False
    worklist = personal_worklist_ensure(user=user)
    entry = None
    try:
        with transaction.atomic():  # a savepoint: the study may be in their worklist already
            entry = WorklistEntry.objects.create(
                worklist=worklist,
                study_id=invitation.study_id,
                added_by_id=invitation.invited_by_id,
                source=WorklistEntry.Source.SHARE,
            )
    except IntegrityError:
        pass
    Share.objects.filter(pk=invitation.share_id).update(
        target_worklist=worklist, target_user=user, **({"entry": entry} if entry else {})
    )
    record_event(
        action=AuditEvent.Action.INVITATION_ACCEPTED,
        actor=user,
        request=request,
        study_instance_uid=invitation.study.study_instance_uid,
        details={"invitation": str(invitation.public_id)},
    )
    return True


def _pending_for(email: str) -> Any:
    return Invitation.objects.filter(
        email=normalised_email(email),
        status=Invitation.Status.PENDING,
        expires_at__gt=timezone.now(),
    ).select_related("study", "invited_by__organisation")


@dataclass(frozen=True)
class Acceptance:
    """What following an invitation link did: how many invitations were honoured, or why not."""

    honoured: int = 0
    refusal: AcceptanceRefusal | None = None


@transaction.atomic(durable=True)
def invitation_accept(
    *, actor: Any, invitation: Invitation, request: HttpRequest | None = None
) -> Acceptance:
    """A signed-in user follows an invitation link.

    Only the invited address may accept (the account's email, compared case-insensitively),
    and the partnership rule applies as when sharing with that person directly (see
    `invitation_acceptance_refusal`). Then this invitation is honoured, and so is every other
    pending invitation to that address that the rules allow. A refusal is recorded in the
    audit trail and changes nothing else.
    """
    if not invitation.is_usable:
        raise ValidationError("This invitation is no longer valid.")
    refusal = invitation_acceptance_refusal(actor, invitation)
    if refusal is not None:
        record_event(
            action=AuditEvent.Action.INVITATION_ACCEPTED,
            actor=actor,
            request=request,
            study_instance_uid=invitation.study.study_instance_uid,
            outcome=AuditEvent.Outcome.DENIED,
            details={"invitation": str(invitation.public_id), "reason": refusal.reason},
        )
        return Acceptance(refusal=refusal)
    others = [
        other
        for other in _pending_for(invitation.email).exclude(pk=invitation.pk)
        if invitation_acceptance_refusal(actor, other) is None
    ]
    return Acceptance(
        honoured=sum(_invitation_accept(item, actor, request) for item in [invitation, *others])
    )


def _username_for(email: str) -> str:
    User = get_user_model()
    base = email[:150]
    candidate, number = base, 1
    while User.objects.filter(username__iexact=candidate).exists():
        number += 1
        suffix = f"-{number}"
        candidate = f"{base[: 150 - len(suffix)]}{suffix}"
    return candidate


@transaction.atomic(durable=True)
def invited_user_register(
    *,
    invitation: Invitation,
    first_name: str,
    last_name: str,
    password: str,
    request: HttpRequest | None = None,
) -> Any:
    """Create an account for the invited address and honour every pending invitation to it.

    The new user belongs to no organisation: they see what is shared with them in their
    personal worklist; an administrator can attach them to an organisation later.
    """
    invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
    if not invitation.is_usable:
        raise ValidationError("This invitation is no longer valid.")
    User = get_user_model()
    if User.objects.filter(email__iexact=invitation.email, is_active=True).exists():
        raise ValidationError(
            "An account already uses this address: log in to accept the invitation."
        )
    user = User(
        username=_username_for(invitation.email),
        email=invitation.email,
        first_name=first_name.strip(),
        last_name=last_name.strip(),
        organisation=None,
    )
    user.set_password(password)
    user.full_clean()
    user_create(user=user)  # which gives them a personal worklist
    for item in [invitation, *_pending_for(invitation.email).exclude(pk=invitation.pk)]:
        if invitation_acceptance_refusal(user, item) is None:  # always: no organisation yet
            _invitation_accept(item, user, request)
    return user


@transaction.atomic(durable=True)
def invitation_send_again(*, actor: Any, invitation: Invitation) -> int:
    """The inviter (or someone who may revoke it) sends an undelivered invitation again.

    Only messages that failed for good go again; returns how many.
    """
    if not invitation_may_revoke(actor, invitation):
        raise PermissionDenied(REVOKE_DENIED)
    if not invitation.is_usable:
        raise ValidationError("This invitation is no longer pending.")
    count = topic_send_again(topic=delivery_topic(invitation.share_id))
    if not count:
        raise ValidationError("There is nothing to send again: the invitation is not failed.")
    return count


@transaction.atomic(durable=True)
def invitation_revoke(
    *, actor: Any, invitation: Invitation, request: HttpRequest | None = None
) -> None:
    """The inviter, or someone who may share from the source worklist, withdraws an invitation."""
    if not invitation_may_revoke(actor, invitation):
        raise PermissionDenied(REVOKE_DENIED)
    revoked = Invitation.objects.filter(pk=invitation.pk, status=Invitation.Status.PENDING).update(
        status=Invitation.Status.REVOKED, revoked_at=timezone.now(), revoked_by=actor
    )
    if not revoked:
        raise ValidationError("This invitation is no longer pending.")
    record_event(
        action=AuditEvent.Action.INVITATION_REVOKED,
        actor=actor,
        request=request,
        study_instance_uid=invitation.study.study_instance_uid,
        details={"invitation": str(invitation.public_id), "email": invitation.email},
    )
