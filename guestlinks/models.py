"""Guest links: unguessable URLs that let someone without an account view one study.

The gate's fields, token scheme and access log are the shared bearer link (`links.models`);
a guest link adds the study it opens, its password kinds and what the recipient sees.
"""

import uuid
from datetime import datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
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
    "MAX_LINK_STUDIES",
    "GuestLinkPolicy",
    "GuestLinkCode",
    "new_secret",
    "token_digest",
    "token_for_secret",
]

TOKEN_SALT = "cimar_share.guestlinks.token"
# The most studies one link may open (its own study included): a patient's recent history,
# not a whole archive behind one password.
MAX_LINK_STUDIES = 20

# Wrong one-time codes a link allows (over all its codes) before it locks.
CODE_MAX_ATTEMPTS = 5


def token_for_secret(secret: str) -> str:
    return _token_for_secret(secret, TOKEN_SALT)


# A guest link's own state beside the gate's (links.models.LinkState), as upload links have it.
DISABLED = "disabled"


class GuestLink(BearerLink):
    class PasswordKind(models.TextChoices):
        NONE = "none", "No password"
        PASSWORD = "password", "Password"
        BIRTH_DATE = "birth_date", "Patient's date of birth"

    State = LinkState
    token_salt = TOKEN_SALT

    # The study the link opens on; a link for several studies of one patient holds the others
    # in `extra_studies` (the guest session reaches all of them, and their priors when asked).
    study = models.ForeignKey("studies.Study", on_delete=models.CASCADE, related_name="guest_links")
    extra_studies = models.ManyToManyField(
        "studies.Study", blank=True, related_name="guest_links_extra"
    )
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
    # Disabled by a clinician (guestlink_update): refused like any unusable link until enabled.
    disabled_at = models.DateTimeField(null=True, blank=True)

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

    def state_at(self, now: datetime) -> str:
        state = super().state_at(now)
        if state in (LinkState.ACTIVE, LinkState.USED_UP) and self.disabled_at is not None:
            return DISABLED
        return state

    @property
    def state_label(self) -> str:
        state = self.state
        return "Disabled" if state == DISABLED else LinkState(state).label

    @property
    def delivery_topic(self) -> str:
        """The outbox topic of the email and SMS that sent this link (the panel shows them)."""
        return f"guestlinks.link:{self.pk}"

    def included_study_ids(self) -> set[int]:
        """Its own study and the others it was created for (priors are not included here)."""
        return {self.study_id, *self.extra_studies.values_list("pk", flat=True)}

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


PASSWORD_MIN_LENGTH = 6
PASSWORD_MAX_LENGTH = 128
MAX_EXPIRY_DAYS = 366


class GuestLinkPolicy(models.Model):
    """What an organisation allows its guest links (set by an administrator in Django admin).

    An organisation without a row gets the defaults, which are what every link could do before
    policies existed; `guestlinks.policy` applies it to the panel and the services.
    """

    organisation = models.OneToOneField(
        "accounts.Organisation", on_delete=models.CASCADE, related_name="guestlink_policy"
    )
    require_password = models.BooleanField(
        default=False,
        help_text="Every link needs a password (a typed one, or the birth date where allowed).",
    )
    allow_birth_date_password = models.BooleanField(
        default=True,
        verbose_name="allow the birth date as password",
        help_text="The patient's birth date (YYYYMMDD) may be a link's password.",
    )
    min_password_length = models.PositiveSmallIntegerField(
        default=PASSWORD_MIN_LENGTH,
        validators=[
            MinValueValidator(PASSWORD_MIN_LENGTH),
            MaxValueValidator(PASSWORD_MAX_LENGTH),
        ],
        help_text="Shortest typed password, in characters.",
    )
    max_expiry_days = models.PositiveSmallIntegerField(
        default=MAX_EXPIRY_DAYS,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_EXPIRY_DAYS)],
        verbose_name="longest expiry (days)",
    )
    max_uses_limit = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        verbose_name="highest max uses",
        help_text="Empty: links may have any number of uses, or none.",
    )
    max_password_attempts_limit = models.PositiveSmallIntegerField(
        default=MAX_PASSWORD_ATTEMPTS_LIMIT,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_PASSWORD_ATTEMPTS_LIMIT)],
        verbose_name="highest max password attempts",
    )
    allow_email = models.BooleanField(default=True, verbose_name="allow sending by email")
    allow_sms = models.BooleanField(default=True, verbose_name="allow sending by SMS")
    allow_downloads = models.BooleanField(
        default=True, help_text="Links may offer the recipient a download of the study."
    )
    require_second_factor = models.BooleanField(
        default=False,
        help_text="Every link sends a one-time code to its recipient's email or mobile.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "guest link policy"
        verbose_name_plural = "guest link policies"

    def __str__(self) -> str:
        return f"Guest link policy of {self.organisation}"

    def clean(self) -> None:
        if self.require_second_factor and not (self.allow_email or self.allow_sms):
            raise ValidationError(
                "A one-time code goes by email or SMS: allow at least one of them, "
                "or do not require a second factor."
            )


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
