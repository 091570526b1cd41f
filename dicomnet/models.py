"""DICOM networking: the remote nodes (PACS, modalities) an organisation exchanges studies with."""

import ipaddress
import re
import uuid

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from worklists.models import validate_ae_title

# A host name (RFC 1123 labels, without ambiguous repetition: linear to match) or an IP address.
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*\.?$")


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def validate_host(value: str) -> None:
    value = value or ""
    if _is_ip(value):
        return
    if len(value) > 253 or not _HOST.match(value):
        raise ValidationError("Enter a host name or an IP address, such as pacs.example.org.")


class RemoteNode(models.Model):
    """A DICOM application entity of an organisation: it may send studies to that
    organisation's worklists (its AE title and address are checked at association), and
    studies may be sent to it."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.CASCADE, related_name="remote_nodes"
    )
    name = models.CharField(max_length=100, help_text="For people, e.g. Main PACS.")
    ae_title = models.CharField("AE title", max_length=16, validators=[validate_ae_title])
    host = models.CharField(
        max_length=253,
        validators=[validate_host],
        help_text="Its host name or IP address: associations must come from this address.",
    )
    port = models.PositiveIntegerField(
        default=104,
        validators=[MinValueValidator(1), MaxValueValidator(65535)],
        help_text="The port its own Storage SCP listens on (for sending studies to it).",
    )
    tls = models.BooleanField(
        "TLS",
        default=False,
        help_text=(
            "Send to it over DICOM TLS: its certificate must be signed by DICOM_SEND_TLS_CA "
            "and name its host."
        ),
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["organisation__name", "name"]
        constraints = [
            # A calling AE title from an address names one node, hence one organisation.
            models.UniqueConstraint(fields=["ae_title", "host"], name="one_node_per_ae_and_host"),
            models.UniqueConstraint(
                fields=["organisation", "name"], name="node_names_unique_per_organisation"
            ),
            models.CheckConstraint(
                condition=models.Q(port__gte=1, port__lte=65535), name="node_port_in_range"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.ae_title}@{self.host}:{self.port})"


class DicomSend(models.Model):
    """One "send to PACS": a study sent by C-STORE to a remote node, by a Celery task, with its
    progress and result for the study page."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENDING = "sending", "Sending"
        RETRYING = "retrying", "Waiting to retry"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    study = models.ForeignKey("studies.Study", on_delete=models.CASCADE, related_name="+")
    worklist = models.ForeignKey("worklists.Worklist", on_delete=models.CASCADE, related_name="+")
    node = models.ForeignKey(RemoteNode, on_delete=models.CASCADE, related_name="sends")
    requested_by = models.ForeignKey(
        "accounts.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    total = models.PositiveIntegerField(default=0)
    sent = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    attempts = models.PositiveSmallIntegerField(default=0)
    reason = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Study {self.study_id} to {self.node}: {self.get_status_display()}"

    @property
    def is_active(self) -> bool:
        return self.status in (self.Status.QUEUED, self.Status.SENDING, self.Status.RETRYING)

    @property
    def percent(self) -> int:
        if not self.total:
            return 0
        return min(100, round(100 * (self.sent + self.failed) / self.total))
