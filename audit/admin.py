from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from .models import AuditEvent


class ReadOnlyAdminMixin:
    """For a ModelAdmin or an inline of records that only services write (with their audit
    events): the admin shows them and adds, changes and deletes nothing. Put it before the admin
    class (`class XAdmin(ReadOnlyAdminMixin, admin.ModelAdmin)`). The one copy for every app:
    audit is the lowest app, so every other app may import it."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "created_at",
        "action",
        "outcome",
        "actor_label",
        "study_instance_uid",
        "ip_address",
    ]
    list_filter = ["action", "outcome", "created_at"]
    search_fields = ["actor_label", "study_instance_uid", "ip_address", "guest_link_id"]
    date_hierarchy = "created_at"
    list_select_related = ["actor"]

    def get_readonly_fields(self, request: HttpRequest, obj: AuditEvent | None = None) -> list[str]:
        return [field.name for field in self.model._meta.fields]
