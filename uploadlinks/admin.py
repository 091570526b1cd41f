from django.contrib import admin

from .models import Upload, UploadLink, UploadLinkAccess


@admin.register(UploadLink)
class UploadLinkAdmin(admin.ModelAdmin):
    list_display = ["public_id", "label", "worklist", "created_by", "created_at", "use_count"]
    list_select_related = ["worklist", "created_by"]
    search_fields = ["public_id", "label", "email"]
    readonly_fields = [field.name for field in UploadLink._meta.fields]

    def has_add_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


@admin.register(UploadLinkAccess)
class UploadLinkAccessAdmin(admin.ModelAdmin):
    list_display = ["created_at", "link", "outcome", "ip_address"]
    list_filter = ["outcome"]
    readonly_fields = ["created_at", "link", "outcome", "ip_address", "user_agent"]

    def has_add_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


@admin.register(Upload)
class UploadAdmin(admin.ModelAdmin):
    list_display = ["public_id", "link", "status", "uploader_name", "created_at", "imported"]
    list_filter = ["status"]
    readonly_fields = [field.name for field in Upload._meta.fields]

    def has_add_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False
