"""Guest links: unguessable URLs that let someone without an account view one study.

The gate's fields, token scheme and access log are the shared bearer link (`links.models`);
a guest link adds the study it opens, its password kinds and what the recipient sees.
"""

import uuid
from datetime import datetime

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from links.models import (
    DEFAULT_MAX_PASSWORD_ATTEMPTS,
    MAX_PASSWORD_ATTEMPTS_LIMIT,
    TOKEN_LENGTH,
    BearerLink,
    LinkAccess,
    LinkState,
    gate_constraints,
    new_secret,
    token_digest,
)
from links.models import token_for_secret as _token_for_secret

__all__ = [
    "DEFAULT_MAX_PASSWORD_ATTEMPTS",
    "MAX_PASSWORD_ATTEMPTS_LIMIT",
    "TOKEN_LENGTH",
    "GuestLink",
    "GuestLinkAccess",
    "GuestLinkCode",
    "new_secret",
    "token_digest",
    "token_for_secret",
]

TOKEN_SALT = "cimar_share.guestlinks.token"
# Wrong one-time codes a link allows (over all its codes) before it locks.
CODE_MAX_ATTEMPTS = 5


def token_for_secret(secret: str) -> str:
    return _token_for_secret(secret, TOKEN_SALT)


class GuestLink(BearerLink):
    class PasswordKind(models.TextChoices):
        NONE = "none", "No password"
        PASSWORD = "password", "Password"
        BIRTH_DATE = "birth_date", "Patient's date of birth"

    State = LinkState
    token_salt = TOKEN_SALT

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

    password_kind = models.CharField(
        max_length=12, choices=PasswordKind.choices, default=PasswordKind.NONE
    )
    notify_on_view = models.BooleanField(default=False)
    include_priors = models.BooleanField(default=False)
    # After the password, a code sent to the recipient (guestlinks/onetimecode.py).
    one_time_code = models.BooleanField(default=False)
    code_failures = models.PositiveSmallIntegerField(default=0)
    # The guest may download the study (zip with a DICOMDIR) and images (guestlinks/downloads.py).
    allow_download = models.BooleanField(default=False)

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
            *gate_constraints("guestlink"),
            models.CheckConstraint(
                condition=Q(password_kind="none", password_hash="")
                | (~Q(password_kind="none") & ~Q(password_hash="")),
                name="guestlink_password_hash_iff_password",
            ),
            models.CheckConstraint(
                condition=Q(code_failures__lte=CODE_MAX_ATTEMPTS),
                name="guestlink_code_failures_within_max",
            ),
        ]

    def __str__(self) -> str:
        return f"Guest link {self.public_id} for study {self.study_id}"

    def get_absolute_url(self) -> str:
        return reverse("guestlinks:gate", kwargs={"token": self.token})

    @property
    def has_password(self) -> bool:
        return self.password_kind != self.PasswordKind.NONE

    @property
    def delivery_topic(self) -> str:
        """The outbox topic of the email and SMS that sent this link (the panel shows them)."""
        return f"guestlinks.link:{self.pk}"

    def allows_session_at(self, now: datetime) -> bool:
        """An opened guest session lives on while the link is not deleted, locked or expired.

        Used-up links keep the sessions they already granted.
        """
        return self.state_at(now) in (self.State.ACTIVE, self.State.USED_UP)


class GuestLinkAccess(LinkAccess):
    """One attempt at a guest link: what happened, when and from where."""

    # Null for attempts at a token that matches no link.
    link = models.ForeignKey(
        GuestLink, on_delete=models.CASCADE, null=True, blank=True, related_name="accesses"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "guest link accesses"
        indexes = [models.Index(fields=["link", "outcome", "-created_at"])]


class GuestLinkCode(models.Model):
    """A one-time code sent after a right password (guestlinks/onetimecode.py). Only an HMAC of
    the code is kept; it belongs to the browser session that gave the password."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    link = models.ForeignKey(GuestLink, on_delete=models.CASCADE, related_name="codes")
    code_hash = models.CharField(max_length=64, editable=False)
    channel = models.CharField(max_length=10)  # "email" or "sms"
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"One-time code {self.public_id} of link {self.link_id}"
