from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from audit.admin import ReadOnlyAdminMixin

from .models import Invitation, Share


class ReadOnlyAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Shares and invitations are written by the share service only (with their audit events).
    Deleting stays allowed, as it always was here (unlike the other read-only admins)."""

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return admin.ModelAdmin.has_delete_permission(self, request, obj)


@admin.register(Share)
class ShareAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "channel",
        "shared_by",
        "source_worklist",
        "target_worklist",
        "target_email",
        "entry",
    ]
    list_filter = ["channel", "created_at"]
    search_fields = [
        "shared_by__username",
        "target_email",
        "target_worklist__name",
        "study__study_instance_uid",
    ]
    list_select_related = [
        "shared_by",
        "source_worklist",
        "target_worklist",
        "entry__study",
        "entry__worklist",
    ]
    date_hierarchy = "created_at"


@admin.register(Invitation)
class InvitationAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "email", "status", "invited_by", "expires_at", "accepted_by"]
    list_filter = ["status", "created_at"]
    search_fields = ["email", "invited_by__username"]
    list_select_related = ["invited_by", "accepted_by"]
    date_hierarchy = "created_at"
