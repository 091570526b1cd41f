from typing import NoReturn

from django.conf import settings
from django.db import models

from .dicom import dicom_event_type


class AppendOnlyError(ValueError):
    pass


class AuditEventQuerySet(models.QuerySet):
    """No bulk change either: `.update()` and `.delete()` would skip `save()`/`delete()`.
    (The database refuses them too: migration 0004's trigger on PostgreSQL.)"""

    def update(self, **kwargs: object) -> NoReturn:
        raise AppendOnlyError("Audit events are append-only.")

    def delete(self) -> NoReturn:  # type: ignore[override]
        raise AppendOnlyError("Audit events are append-only.")


class AuditEvent(models.Model):
    """One append-only line of the audit trail: who did what to which study, from where."""

    class Action(models.TextChoices):
        LOGIN = "login", "Logged in"
        LOGIN_FAILED = "login_failed", "Login failed"
        LOGOUT = "logout", "Logged out"
        STUDY_OPENED = "study_opened", "Study opened"
        STUDY_UPLOADED = "study_uploaded", "Study uploaded"
        STUDY_SHARED = "study_shared", "Study shared"
        INVITATION_CREATED = "invitation_created", "Invitation created"
        INVITATION_ACCEPTED = "invitation_accepted", "Invitation accepted"
        INVITATION_REVOKED = "invitation_revoked", "Invitation revoked"
        GUESTLINK_CREATED = "guestlink_created", "Guest link created"
        GUESTLINK_DELETED = "guestlink_deleted", "Guest link deleted"
        GUESTLINK_ATTEMPT = "guestlink_attempt", "Guest link refused"
        GUESTLINK_OPENED = "guestlink_opened", "Guest link opened"
        GUESTLINK_CHANGED = "guestlink_changed", "Guest link changed"
        GUESTLINK_UNLOCKED = "guestlink_unlocked", "Guest link unlocked"
        GUESTLINK_NEW_LINK_ASKED = "guestlink_new_link_asked", "New guest link asked for"

        GUESTLINK_DOWNLOADED = "guestlink_downloaded", "Downloaded through a guest link"
        UPLOADLINK_CREATED = "uploadlink_created", "Upload link created"
        UPLOADLINK_CHANGED = "uploadlink_changed", "Upload link changed"
        UPLOADLINK_DELETED = "uploadlink_deleted", "Upload link deleted"
        UPLOADLINK_ATTEMPT = "uploadlink_attempt", "Upload link refused"
        UPLOADLINK_OPENED = "uploadlink_opened", "Upload link opened"
        UPLOADLINK_UPLOADED = "uploadlink_uploaded", "Upload through an upload link"
        ROLE_CHANGED = "role_changed", "Role changed"
        MEMBERSHIP_CHANGED = "membership_changed", "Membership changed"
        SHARE_CODE_REGENERATED = "share_code_regenerated", "Share code regenerated"
        API_TOKEN_CREATED = "api_token_created", "API token created"
        API_TOKEN_REVOKED = "api_token_revoked", "API token revoked"
        STUDY_SENT = "study_sent", "Study sent to a DICOM node"
        IMAGES_VIEWED = "images_viewed", "Images viewed"
        GUESTLINK_WRONG_PASSWORD = "guestlink_wrong_password", "Guest link wrong password"
        GUESTLINK_LOCKED = "guestlink_locked", "Guest link locked"
        GUESTLINK_DELIVERED = "guestlink_delivered", "Guest link delivered"
        UPLOADLINK_WRONG_PASSWORD = "uploadlink_wrong_password", "Upload link wrong password"
        UPLOADLINK_LOCKED = "uploadlink_locked", "Upload link locked"
        UPLOADLINK_DELIVERED = "uploadlink_delivered", "Upload link delivered"
        INVITATION_DELIVERED = "invitation_delivered", "Invitation delivered"
        ORGANISATION_CHANGED = "organisation_changed", "Organisation changed"
        PARTNERSHIP_CHANGED = "partnership_changed", "Partnership changed"
        WORKLIST_CHANGED = "worklist_changed", "Worklist changed"
        USER_CHANGED = "user_changed", "User changed"
        AUDIT_EXPORTED = "audit_exported", "Audit trail exported"
        DICOMWEB_QUERY = "dicomweb_query", "Searched through DICOMweb"
        DICOMWEB_RETRIEVED = "dicomweb_retrieved", "Retrieved through DICOMweb"
        OBJECT_PERMISSION_CHANGED = "object_permission_changed", "Object permissions changed"

    class Outcome(models.TextChoices):
        SUCCESS = "success", "Success"
        FAILURE = "failure", "Failure"
        DENIED = "denied", "Denied"

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    # Kept as text too, so the trail still names who it was after a user is deleted.
    actor_label = models.CharField(max_length=200, blank=True)
    # A guest or upload link (the action says which) is recorded by its public id, not a
    # foreign key: the trail outlives links.
    guest_link_id = models.UUIDField(null=True, blank=True, db_index=True)
    action = models.CharField(max_length=40, choices=Action.choices, db_index=True)
    outcome = models.CharField(max_length=10, choices=Outcome.choices, default=Outcome.SUCCESS)
    study_instance_uid = models.CharField(max_length=64, blank=True, db_index=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    details = models.JSONField(default=dict, blank=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["actor", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.actor_label or 'guest'} {self.action}"

    def save(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        # Append-only: an event is written once and never changed.
        if self.pk is not None:
            raise AppendOnlyError("Audit events are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        raise AppendOnlyError("Audit events are append-only.")

    @property
    def dicom_event(self) -> str:
        """The event type of DICOM PS3.15 Annex A.5 this action is (audit/dicom.py)."""
        return dicom_event_type(self.action)
