from email.utils import parseaddr

from django.conf import settings
from django.db import models


class OutboundMessage(models.Model):
    """An email or SMS to send: written in the same transaction as the change it reports."""

    class Channel(models.TextChoices):
        EMAIL = "email", "Email"
        SMS = "sms", "SMS"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    channel = models.CharField(max_length=10, choices=Channel.choices)
    recipient = models.CharField(max_length=254)
    template = models.CharField(
        max_length=100, help_text="Template name under templates/emails or templates/sms."
    )
    context = models.JSONField(default=dict, blank=True)
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(
        null=True, blank=True, help_text="After a transient failure: when to try again."
    )
    sent_at = models.DateTimeField(null=True, blank=True)
    claimed_by = models.CharField(
        max_length=200, blank=True, help_text="host:pid:start of the process that claimed it."
    )
    failure_reason = models.CharField(
        max_length=300, blank=True, help_text="Why the last attempt failed, in plain words."
    )
    # Where the sender looks: what the message is about ("sharing.share:12"), whom to tell when
    # it fails for good, and the page where they see it (and may send it again).
    topic = models.CharField(max_length=100, blank=True, db_index=True)
    sender_email = models.EmailField(blank=True)
    sender_path = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="outbox_due")]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(status="sent") | models.Q(sent_at__isnull=False),
                name="outbox_sent_has_sent_at",
            )
        ]

    def __str__(self) -> str:
        return f"{self.channel} to {self.recipient} ({self.template}, {self.status})"

    @property
    def message_id_header(self) -> str:
        """The same Message-ID on every attempt, so a mail client collapses a duplicate."""
        domain = parseaddr(settings.DEFAULT_FROM_EMAIL)[1].rpartition("@")[2] or "cimar.local"
        stamp = self.created_at.strftime("%Y%m%d%H%M%S") if self.created_at else "0"
        return f"<outbox-{self.pk}-{stamp}@{domain}>"

    @property
    def state_label(self) -> str:
        """Queued, sent or failed, as the sender sees it."""
        if self.status == self.Status.SENT:
            return "Sent"
        if self.status == self.Status.FAILED:
            return "Not delivered"
        return "Retrying" if self.attempts and self.failure_reason else "Queued"
