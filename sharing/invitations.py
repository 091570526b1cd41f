"""Invitation links: the invitation's public id, signed and timestamped with the secret key."""

from datetime import timedelta
from uuid import UUID

from django.conf import settings
from django.core import signing

SALT = "sharing.invitation"


class InvitationLinkInvalid(Exception):
    """The link was altered or is not an invitation link."""


class InvitationLinkExpired(Exception):
    """The link is genuine but older than INVITATION_MAX_AGE_DAYS."""


def max_age() -> timedelta:
    return timedelta(days=int(settings.INVITATION_MAX_AGE_DAYS))


def make_token(public_id: UUID) -> str:
    return signing.dumps(public_id.hex, salt=SALT, compress=False)


def read_token(token: str) -> UUID:
    """The invitation's public id, or an exception saying why the link does not work."""
    try:
        value = signing.loads(token, salt=SALT, max_age=max_age())
        return UUID(hex=str(value))
    except signing.SignatureExpired as exc:
        raise InvitationLinkExpired from exc
    except (signing.BadSignature, ValueError, TypeError) as exc:
        raise InvitationLinkInvalid from exc
