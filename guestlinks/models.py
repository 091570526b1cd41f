"""Guest links: unguessable URLs that let someone without an account view one study.

The URL token is never stored. A link keeps a random `secret`; the token is an HMAC of it with
SECRET_KEY (so the creator can copy the link again), and the table holds only the SHA-256 of
the token for lookups. A database dump alone therefore yields no usable URL.
"""

import base64
import hashlib
import secrets
import uuid
from datetime import datetime

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac
from phonenumber_field.modelfields import PhoneNumberField

TOKEN_SALT = "cimar_share.guestlinks.token"
TOKEN_LENGTH = 43  # base64url of 32 bytes, unpadded
DEFAULT_MAX_PASSWORD_ATTEMPTS = 5
MAX_PASSWORD_ATTEMPTS_LIMIT = 20


def new_secret() -> str:
    return secrets.token_urlsafe(32)  # 256 bits


def token_for_secret(secret: str) -> str:
    digest = salted_hmac(TOKEN_SALT, secret, algorithm="sha256").digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


class GuestLink(models.Model):
    class PasswordKind(models.TextChoices):
        NONE = "none", "No password"
        PASSWORD = "password", "Password"
        BIRTH_DATE = "birth_date", "Patient's date of birth"

    class State(models.TextChoices):
        ACTIVE = "active", "Active"
        EXPIRED = "expired", "Expired"
        USED_UP = "used_up", "Used up"
        LOCKED = "locked", "Locked after failed attempts"
        DELETED = "deleted", "Deleted"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    study = models.ForeignKey("studies.Study", on_delete=models.CASCADE, related_name="guest_links")
    worklist = models.ForeignKey(
        "worklists.Worklist", on_delete=models.CASCADE, related_name="guest_links"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="guest_links",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    secret = models.CharField(max_length=64, default=new_secret, editable=False)
    token_digest = models.CharField(max_length=64, unique=True, editable=False)

    expires_at = models.DateTimeField()
    max_uses = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1)], help_text="Empty: no limit."
    )
    use_count = models.PositiveIntegerField(default=0)

    password_kind = models.CharField(
        max_length=12, choices=PasswordKind.choices, default=PasswordKind.NONE
    )
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
    notify_on_view = models.BooleanField(default=False)
    include_priors = models.BooleanField(default=False)

    deleted_at = models.DateTimeField(null=True, blank=True)
    deleted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(max_uses__isnull=True) | Q(max_uses__gte=1),
                name="guestlink_max_uses_positive",
            ),
            models.CheckConstraint(
                condition=Q(max_uses__isnull=True) | Q(use_count__lte=models.F("max_uses")),
                name="guestlink_uses_within_max",
            ),
            models.CheckConstraint(
                condition=Q(password_failures__lte=models.F("max_password_attempts")),
                name="guestlink_failures_within_max",
            ),
            models.CheckConstraint(
                condition=Q(password_kind="none", password_hash="")
                | (~Q(password_kind="none") & ~Q(password_hash="")),
                name="guestlink_password_hash_iff_password",
            ),
        ]

    def __str__(self) -> str:
        return f"Guest link {self.public_id} for study {self.study_id}"

    def get_absolute_url(self) -> str:
        return reverse("guestlinks:gate", kwargs={"token": self.token})

    @property
    def token(self) -> str:
        return token_for_secret(self.secret)

    def matches_token(self, token: str) -> bool:
        return constant_time_compare(self.token, token)

    @property
    def has_password(self) -> bool:
        return self.password_kind != self.PasswordKind.NONE

    @property
    def uses_left(self) -> int | None:
        if self.max_uses is None:
            return None
        return max(self.max_uses - self.use_count, 0)

    def state_at(self, now: datetime) -> str:
        if self.deleted_at is not None:
            return self.State.DELETED
        if self.locked_at is not None:
            return self.State.LOCKED
        if self.expires_at <= now:
            return self.State.EXPIRED
        if self.max_uses is not None and self.use_count >= self.max_uses:
            return self.State.USED_UP
        return self.State.ACTIVE

    @property
    def state(self) -> str:
        return self.state_at(timezone.now())

    @property
    def state_label(self) -> str:
        return self.State(self.state).label

    @property
    def delivery_topic(self) -> str:
        """The outbox topic of the email and SMS that sent this link (the panel shows them)."""
        return f"guestlinks.link:{self.pk}"

    @property
    def is_usable(self) -> bool:
        """May be opened now (one more use)."""
        return self.state == self.State.ACTIVE

    def allows_session_at(self, now: datetime) -> bool:
        """An opened guest session lives on while the link is not deleted, locked or expired.

        Used-up links keep the sessions they already granted.
        """
        return self.state_at(now) in (self.State.ACTIVE, self.State.USED_UP)

    @property
    def recipient_label(self) -> str:
        parts = [self.email, str(self.mobile) if self.mobile else ""]
        return ", ".join(part for part in parts if part)


class GuestLinkAccess(models.Model):
    """One attempt at a guest link: what happened, when and from where."""

    class Outcome(models.TextChoices):
        OPENED = "opened", "Opened"
        WRONG_PASSWORD = "wrong_password", "Wrong password"
        REFUSED = "refused", "Refused (link not available)"
        RATE_LIMITED = "rate_limited", "Rate-limited"

    # Null for attempts at a token that matches no link.
    link = models.ForeignKey(
        GuestLink, on_delete=models.CASCADE, null=True, blank=True, related_name="accesses"
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    outcome = models.CharField(max_length=20, choices=Outcome.choices)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "guest link accesses"
        indexes = [models.Index(fields=["link", "outcome", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.outcome}"
