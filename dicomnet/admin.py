from django.contrib import admin

from .models import RemoteNode


@admin.register(RemoteNode)
class RemoteNodeAdmin(admin.ModelAdmin):
    list_display = ["name", "organisation", "ae_title", "host", "port", "tls", "created_at"]
    list_filter = ["organisation", "tls"]
    search_fields = ["name", "ae_title", "host", "organisation__name"]
    list_select_related = ["organisation"]
    autocomplete_fields = ["organisation"]
    readonly_fields = ["public_id", "created_at"]
    fields = ["organisation", "name", "ae_title", "host", "port", "tls", "public_id", "created_at"]
