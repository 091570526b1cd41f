"""Upload links: someone without an account uploads imaging into a worklist.

An `UploadLink` is a bearer link (`links.models.BearerLink`, the same gate as guest links) that
leads to an upload page instead of a viewer. Each completed upload (`Upload`) counts one use.
Files arrive in chunks into a staging folder (`StagedFile`), and only a completed upload is
ingested, in one transaction: an interrupted one leaves nothing imported.
"""

import uuid
from datetime import datetime

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone

from links.models import BearerLink, LinkAccess, LinkState, gate_constraints

TOKEN_SALT = "cimar_share.uploadlinks.token"


class UploadLink(BearerLink):
    State = LinkState
    token_salt = TOKEN_SALT

    worklist = models.ForeignKey(
        "worklists.Worklist", on_delete=models.CASCADE, related_name="upload_links"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="upload_links",
    )
    label = models.CharField(
        max_length=100, blank=True, help_text="How the worklist names uploads through it."
    )
    notify_on_upload = models.BooleanField(default=False)
    # Disabled by a clinician: refused like any unusable link until re-enabled.
    disabled_at = models.DateTimeField(null=True, blank=True)
    deleted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = gate_constraints("uploadlink")

    def __str__(self) -> str:
        return f"Upload link {self.display_label} into {self.worklist_id}"

    def get_absolute_url(self) -> str:
        return reverse("uploadlinks:gate", kwargs={"token": self.token})

    @property
    def display_label(self) -> str:
        return self.label or self.recipient_label or f"of {self.created_at:%d/%m/%Y}"

    def state_at(self, now: datetime) -> str:
        state = super().state_at(now)
        if state in (LinkState.ACTIVE, LinkState.USED_UP) and self.disabled_at is not None:
            return "disabled"
        return state

    @property
    def state_label(self) -> str:
        state = self.state
        return "Disabled" if state == "disabled" else LinkState(state).label

    def allows_session_at(self, now: datetime) -> bool:
        """An upload session lives while the link could take one more upload."""
        return self.state_at(now) == LinkState.ACTIVE


class UploadLinkAccess(LinkAccess):
    """One attempt at an upload link's gate: what happened, when and from where."""

    link = models.ForeignKey(
        UploadLink, on_delete=models.CASCADE, null=True, blank=True, related_name="accesses"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "upload link accesses"
        indexes = [models.Index(fields=["link", "outcome", "-created_at"])]


class Upload(models.Model):
    """One upload through a link: staged first, then completed (ingested) or abandoned."""

    class Status(models.TextChoices):
        STAGING = "staging", "Receiving files"
        COMPLETED = "completed", "Completed"
        REFUSED = "refused", "Refused"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    link = models.ForeignKey(UploadLink, on_delete=models.CASCADE, related_name="uploads")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.STAGING)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    uploader_name = models.CharField(max_length=200, blank=True)
    uploader_email = models.EmailField(blank=True)
    note = models.TextField(blank=True, max_length=2000)
    total_bytes = models.BigIntegerField(default=0)
    imported = models.PositiveIntegerField(default=0)
    already_present = models.PositiveIntegerField(default=0)
    rejected_total = models.PositiveIntegerField(default=0)
    # [[name, reason], ...]: the first rejected files, as the report lists them.
    rejected = models.JSONField(default=list, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Upload {self.public_id} ({self.status})"


class StagedFile(models.Model):
    """One file of an upload as it arrives: `received` bytes of `size` are on disk."""

    upload = models.ForeignKey(Upload, on_delete=models.CASCADE, related_name="files")
    index = models.PositiveIntegerField()
    # The name the browser gave (a relative path in a folder): for the report only; the staged
    # bytes are stored under the upload's id and this index, never under this name.
    name = models.CharField(max_length=500)
    size = models.BigIntegerField()
    received = models.BigIntegerField(default=0)

    class Meta:
        ordering = ["index"]
        constraints = [
            models.UniqueConstraint(fields=["upload", "index"], name="stagedfile_once"),
            models.CheckConstraint(
                condition=models.Q(received__lte=models.F("size")),
                name="stagedfile_received_within_size",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.index}: {self.received}/{self.size}"

    @property
    def complete(self) -> bool:
        return self.received == self.size


class UploadedStudy(models.Model):
    """A study an upload added images to, and whether the upload created it (only studies an
    upload link created may be added to by its later uploads)."""

    upload = models.ForeignKey(Upload, on_delete=models.CASCADE, related_name="studies")
    study = models.ForeignKey("studies.Study", on_delete=models.CASCADE, related_name="+")
    created = models.BooleanField(default=False)
    imported = models.PositiveIntegerField(default=0)
    already_present = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["upload", "study"], name="uploadedstudy_once")
        ]

    def __str__(self) -> str:
        return f"{self.study_id} in {self.upload_id}"
