from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.forms import ModelForm
from django.http import HttpRequest

from worklists.services import personal_worklist_sync

from .models import Organisation, Partnership, User


class OutgoingPartnershipInline(admin.TabularInline):
    model = Partnership
    fk_name = "from_organisation"
    extra = 0
    verbose_name = "may share with"
    verbose_name_plural = "May share with (partnerships)"
    autocomplete_fields = ["to_organisation"]


@admin.register(Organisation)
class OrganisationAdmin(admin.ModelAdmin):
    list_display = ["name", "time_zone", "is_active", "created_at"]
    list_filter = ["is_active", "time_zone"]
    search_fields = ["name"]
    inlines = [OutgoingPartnershipInline]


@admin.register(Partnership)
class PartnershipAdmin(admin.ModelAdmin):
    list_display = ["from_organisation", "to_organisation", "created_at"]
    list_filter = ["from_organisation", "to_organisation"]
    search_fields = ["from_organisation__name", "to_organisation__name"]
    autocomplete_fields = ["from_organisation", "to_organisation"]


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
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

    def save_related(
        self, request: HttpRequest, form: ModelForm, formsets: Any, change: bool
    ) -> None:
        # After the form's groups are saved (they include the worklist role groups), so that
        # the personal role given here is not overwritten by the form's old groups.
        super().save_related(request, form, formsets, change)
        if "organisation" in form.changed_data:
            # An invited outsider attached to an organisation gets the full personal role.
            personal_worklist_sync(actor=request.user, user=form.instance, request=request)
