"""What every bearer link is: an unguessable token, a password, attempts, uses, an expiry.

Abstract: each kind of link (guestlinks.GuestLink, uploadlinks.UploadLink) is its own table
with these fields, its own access log (`LinkAccess`) and its own token salt, and is opened
through the one gate in `links.gate`.

The URL token is never stored. A link keeps a random `secret`; the token is an HMAC of it with
SECRET_KEY and the kind's salt (so the creator can copy the link again), and the table holds
only the SHA-256 of the token for lookups. A database dump alone therefore yields no usable URL.
"""

import base64
import hashlib
import secrets
import uuid
from datetime import datetime
from typing import ClassVar

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac
from phonenumber_field.modelfields import PhoneNumberField

TOKEN_LENGTH = 43  # base64url of 32 bytes, unpadded
DEFAULT_MAX_PASSWORD_ATTEMPTS = 5
MAX_PASSWORD_ATTEMPTS_LIMIT = 20


def new_secret() -> str:
    return secrets.token_urlsafe(32)  # 256 bits


def token_for_secret(secret: str, salt: str) -> str:
    digest = salted_hmac(salt, secret, algorithm="sha256").digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


def gate_constraints(prefix: str) -> list[models.BaseConstraint]:
    """The database's own guard on every link's counters (named per kind)."""
    return [
        models.CheckConstraint(
            condition=Q(max_uses__isnull=True) | Q(max_uses__gte=1),
            name=f"{prefix}_max_uses_positive",
        ),
        models.CheckConstraint(
            condition=Q(max_uses__isnull=True) | Q(use_count__lte=models.F("max_uses")),
            name=f"{prefix}_uses_within_max",
        ),
        models.CheckConstraint(
            condition=Q(password_failures__lte=models.F("max_password_attempts")),
            name=f"{prefix}_failures_within_max",
        ),
    ]


class LinkState(models.TextChoices):
    ACTIVE = "active", "Active"
    EXPIRED = "expired", "Expired"
    USED_UP = "used_up", "Used up"
    LOCKED = "locked", "Locked after failed attempts"
    DELETED = "deleted", "Deleted"


class BearerLink(models.Model):
    """The gate's fields. A kind adds what the link gives access to, `created_by` (with its
    own related name) and its password kinds."""

    State = LinkState
    # The HMAC salt of this kind's tokens: a token of one kind never opens the other.
    token_salt: ClassVar[str] = ""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    secret = models.CharField(max_length=64, default=new_secret, editable=False)
    token_digest = models.CharField(max_length=64, unique=True, editable=False)

    expires_at = models.DateTimeField()
    max_uses = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1)], help_text="Empty: no limit."
    )
    use_count = models.PositiveIntegerField(default=0)

    password_hash = models.CharField(max_length=200, blank=True, editable=False)
    max_password_attempts = models.PositiveSmallIntegerField(
        default=DEFAULT_MAX_PASSWORD_ATTEMPTS,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_PASSWORD_ATTEMPTS_LIMIT)],
    )
    # Wrong passwords so far (a right one is never counted): reaching the maximum locks the link.
    password_failures = models.PositiveSmallIntegerField(default=0)
    locked_at = models.DateTimeField(null=True, blank=True)

    email = models.EmailField(blank=True)
    message = models.TextField(blank=True, max_length=2000)
    mobile = PhoneNumberField(blank=True)

    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True

    @property
    def token(self) -> str:
        return token_for_secret(self.secret, self.token_salt)

    def matches_token(self, token: str) -> bool:
        return constant_time_compare(self.token, token)

    @property
    def has_password(self) -> bool:
        return bool(self.password_hash)

    @property
    def uses_left(self) -> int | None:
        if self.max_uses is None:
            return None
        return max(self.max_uses - self.use_count, 0)

    def state_at(self, now: datetime) -> str:
        if self.deleted_at is not None:
            return LinkState.DELETED
        if self.locked_at is not None:
            return LinkState.LOCKED
        if self.expires_at <= now:
            return LinkState.EXPIRED
        if self.max_uses is not None and self.use_count >= self.max_uses:
            return LinkState.USED_UP
        return LinkState.ACTIVE

    @property
    def state(self) -> str:
        return self.state_at(timezone.now())

    @property
    def state_label(self) -> str:
        return LinkState(self.state).label

    @property
    def is_usable(self) -> bool:
        """May be opened now (one more use)."""
        return self.state == LinkState.ACTIVE

    @property
    def recipient_label(self) -> str:
        parts = [self.email, str(self.mobile) if self.mobile else ""]
        return ", ".join(part for part in parts if part)


class AccessOutcome(models.TextChoices):
    OPENED = "opened", "Opened"
    WRONG_PASSWORD = "wrong_password", "Wrong password"
    REFUSED = "refused", "Refused (link not available)"
    RATE_LIMITED = "rate_limited", "Rate-limited"
    # A second factor (guest links' one-time code) and what a guest does once in.
    CODE_SENT = "code_sent", "Password right, one-time code sent"
    WRONG_CODE = "wrong_code", "Wrong one-time code"
    CODE_EXPIRED = "code_expired", "One-time code expired or used"
    DOWNLOADED = "downloaded", "Downloaded"


class LinkAccess(models.Model):
    """One attempt at a link: what happened, when and from where. A kind adds `link` (null
    for attempts at a token that matches no link)."""

    Outcome = AccessOutcome

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    outcome = models.CharField(max_length=20, choices=AccessOutcome.choices)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.outcome}"
