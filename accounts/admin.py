from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.forms import ModelForm
from django.http import HttpRequest

from audit.admin import AuditedAdminMixin
from audit.models import AuditEvent

from .models import Organisation, Partnership, User
from .services import user_create


class OutgoingPartnershipInline(admin.TabularInline):
    model = Partnership
    fk_name = "from_organisation"
    extra = 0
    verbose_name = "may share with"
    verbose_name_plural = "May share with (partnerships)"
    autocomplete_fields = ["to_organisation"]


@admin.register(Organisation)
class OrganisationAdmin(AuditedAdminMixin, admin.ModelAdmin):
    audit_action = AuditEvent.Action.ORGANISATION_CHANGED
    audit_inline_actions = {Partnership: AuditEvent.Action.PARTNERSHIP_CHANGED}
    list_display = ["name", "time_zone", "is_active", "created_at"]
    list_filter = ["is_active", "time_zone"]
    search_fields = ["name"]
    inlines = [OutgoingPartnershipInline]


@admin.register(Partnership)
class PartnershipAdmin(AuditedAdminMixin, admin.ModelAdmin):
    audit_action = AuditEvent.Action.PARTNERSHIP_CHANGED
    list_display = ["from_organisation", "to_organisation", "created_at"]
    list_filter = ["from_organisation", "to_organisation"]
    search_fields = ["from_organisation__name", "to_organisation__name"]
    autocomplete_fields = ["from_organisation", "to_organisation"]


class UserAdmin(AuditedAdminMixin, DjangoUserAdmin):
    """Users; registered by worklists/admin.py, which adds their worklists and roles."""

    audit_action = AuditEvent.Action.USER_CHANGED

    list_display = [
        "username",
        "email",
        "first_name",
        "last_name",
        "organisation",
        "is_active",
        "is_staff",
    ]
    list_filter = ["organisation", "is_active", "is_staff", "is_superuser"]
    search_fields = ["username", "email", "first_name", "last_name", "organisation__name"]
    list_select_related = ["organisation"]
    autocomplete_fields = ["organisation"]
    fieldsets = (
        *(DjangoUserAdmin.fieldsets or ()),
        ("Cimar Share", {"fields": ("organisation", "title")}),
    )
    add_fieldsets = (
        *DjangoUserAdmin.add_fieldsets,
        ("Cimar Share", {"fields": ("email", "first_name", "last_name", "organisation", "title")}),
    )

    def save_model(self, request: HttpRequest, obj: User, form: ModelForm, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
        else:
            user_create(user=obj)  # as every new user is made: with a personal worklist
