from django.conf import settings
from django.db import models


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

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        target = self.target_worklist or self.target_email or "?"
        return f"{self.study} → {target} ({self.channel})"
