"""Guest links in the admin: read-only (create and delete them on the study page, where the
services check permissions and write the audit trail)."""

from django.contrib import admin

from audit.admin import ReadOnlyAdminMixin

from .models import GuestLink, GuestLinkAccess, GuestLinkPolicy


class GuestLinkAccessInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = GuestLinkAccess
    fields = ("created_at", "outcome", "ip_address", "user_agent")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False


@admin.register(GuestLink)
class GuestLinkAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "public_id",
        "study",
        "worklist",
        "created_by",
        "created_at",
        "expires_at",
        "use_count",
        "max_uses",
        "password_kind",
        "state_label",
    )
    list_filter = (
        "password_kind",
        "notify_on_view",
        "include_priors",
        "one_time_code",
        "allow_download",
    )
    list_select_related = ("study", "worklist", "created_by")
    search_fields = ("public_id", "email", "study__study_instance_uid", "created_by__username")
    date_hierarchy = "created_at"
    # Never the secret, token digest or password hash.
    fields = (
        "public_id",
        "study",
        "worklist",
        "created_by",
        "created_at",
        "expires_at",
        "max_uses",
        "use_count",
        "password_kind",
        "max_password_attempts",
        "password_failures",
        "one_time_code",
        "code_failures",
        "locked_at",
        "email",
        "message",
        "mobile",
        "notify_on_view",
        "include_priors",
        "disabled_at",
        "allow_download",
        "deleted_at",
        "deleted_by",
    )
    readonly_fields = fields
    inlines = [GuestLinkAccessInline]

    @admin.display(description="State")
    def state_label(self, obj: GuestLink) -> str:
        return obj.state_label


@admin.register(GuestLinkAccess)
class GuestLinkAccessAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("created_at", "outcome", "link", "ip_address", "user_agent")
    list_filter = ("outcome",)
    list_select_related = ("link",)
    date_hierarchy = "created_at"


@admin.register(GuestLinkPolicy)
class GuestLinkPolicyAdmin(admin.ModelAdmin):
    """Per organisation: what its guest links may do. An organisation without a policy gets
    the defaults, which allow everything a link could do before policies existed."""

    list_display = (
        "organisation",
        "require_password",
        "allow_birth_date_password",
        "min_password_length",
        "max_expiry_days",
        "max_uses_limit",
        "max_password_attempts_limit",
        "allow_email",
        "allow_sms",
        "allow_downloads",
        "require_second_factor",
        "updated_at",
    )
    list_select_related = ("organisation",)
    search_fields = ("organisation__name",)
    autocomplete_fields = ("organisation",)
    fieldsets = (
        (None, {"fields": ("organisation",)}),
        (
            "Passwords",
            {
                "fields": (
                    "require_password",
                    "allow_birth_date_password",
                    "min_password_length",
                    "max_password_attempts_limit",
                )
            },
        ),
        ("Limits", {"fields": ("max_expiry_days", "max_uses_limit")}),
        ("Delivery and options", {"fields": ("allow_email", "allow_sms", "allow_downloads")}),
        ("Second factor", {"fields": ("require_second_factor",)}),
    )
