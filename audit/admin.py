from django.contrib import admin
from django.http import HttpRequest

from .models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
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

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: AuditEvent | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: AuditEvent | None = None) -> bool:
        return False
