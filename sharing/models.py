import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


def delivery_topic(share_id: int) -> str:
    return f"sharing.share:{share_id}"


class Share(models.Model):
    """One act of sharing a study to one target."""

    class Channel(models.TextChoices):
        ORGANISATION = "organisation", "Organisation"
        LOCATION = "location", "Location"
        GROUP = "group", "Group"
        PHYSICIAN = "physician", "Physician"
        SHARE_CODE = "share_code", "Share code"
        EMAIL = "email", "Email"

    study = models.ForeignKey("studies.Study", on_delete=models.CASCADE, related_name="shares")
    shared_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="shares_made"
    )
    source_worklist = models.ForeignKey(
        "worklists.Worklist", on_delete=models.SET_NULL, null=True, related_name="shares_out"
    )
    channel = models.CharField(max_length=20, choices=Channel.choices)
    target_worklist = models.ForeignKey(
        "worklists.Worklist",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="shares_in",
    )
    target_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="shares_received",
    )
    target_email = models.EmailField(blank=True)
    message = models.TextField(blank=True, max_length=2000)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    # The worklist entry this share made (`entry.share` from the other side); none for an email
    # share until the invitation is accepted, or when the study was already there.
    entry = models.OneToOneField(
        "studies.WorklistEntry",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="share",
    )

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        target = self.target_worklist or self.target_email or "?"
        return f"{self.study} → {target} ({self.channel})"

    @property
    def delivery_topic(self) -> str:
        """The outbox topic of the emails this share sent (its history shows their state)."""
        return delivery_topic(self.pk)

    @property
    def target_display(self) -> str:
        """Who or what received the share, in words (no patient details)."""
        if self.target_user is not None:
            return self.target_user.display_name
        if self.target_worklist is not None:
            organisation = self.target_worklist.organisation
            return f"{self.target_worklist.name}" + (f" ({organisation})" if organisation else "")
        return self.target_email or "—"


class Invitation(models.Model):
    """An email share to an address with no active account: a signed, expiring link to register.

    The link carries `public_id` signed with the secret key (see sharing.invitations); the row
    says whether it is still pending, and when it expires.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        ACCEPTED = "accepted", "Accepted"
        REVOKED = "revoked", "Revoked"
        EXPIRED = "expired", "Expired"  # set when a newer invitation replaces an expired one

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    email = models.EmailField(db_index=True, help_text="Stored in lower case.")
    study = models.ForeignKey("studies.Study", on_delete=models.CASCADE, related_name="invitations")
    share = models.OneToOneField(Share, on_delete=models.CASCADE, related_name="invitation")
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="invitations_sent",
    )
    source_worklist = models.ForeignKey(
        "worklists.Worklist", on_delete=models.SET_NULL, null=True, related_name="invitations"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="invitations_accepted",
    )
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["email", "study"],
                condition=Q(status="pending"),
                name="one_pending_invitation_per_study_and_address",
            ),
        ]

    def __str__(self) -> str:
        return f"Invitation to {self.email} ({self.status})"

    @property
    def is_expired(self) -> bool:
        return timezone.now() >= self.expires_at

    @property
    def is_usable(self) -> bool:
        return self.status == self.Status.PENDING and not self.is_expired
