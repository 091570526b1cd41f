from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.models import Group
from django.forms import ModelForm
from django.http import HttpRequest

from worklists.admin import save_membership_formset
from worklists.models import Membership
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


class UserMembershipInline(admin.TabularInline):
    """The user's worklists and roles: what gives them their permissions (each membership puts
    them in a role group, which the groups field does not show)."""

    model = Membership
    extra = 0
    autocomplete_fields = ["worklist"]
    fields = ["worklist", "role", "created_at"]
    readonly_fields = ["created_at"]
    verbose_name = "worklist membership"
    verbose_name_plural = "Worklists and roles"

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).select_related("worklist", "role")


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
    inlines = [UserMembershipInline]

    def formfield_for_manytomany(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "groups":
            # Role groups ("worklist <id> role <n>") belong to memberships, shown inline.
            kwargs["queryset"] = Group.objects.filter(role_group__isnull=True)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def save_formset(
        self, request: HttpRequest, form: ModelForm, formset: Any, change: bool
    ) -> None:
        if formset.model is not Membership:
            super().save_formset(request, form, formset, change)
            return
        save_membership_formset(request, formset)

    def save_related(
        self, request: HttpRequest, form: ModelForm, formsets: Any, change: bool
    ) -> None:
        if "groups" in form.cleaned_data:
            # The groups field leaves role groups out; saving it must not drop them.
            role_groups = Group.objects.filter(user=form.instance, role_group__isnull=False)
            form.cleaned_data["groups"] = [*form.cleaned_data["groups"], *role_groups]
        # After the form's groups are saved (with the worklist role groups), so that the
        # personal role given here is not overwritten by the form's old groups.
        super().save_related(request, form, formsets, change)
        if "organisation" in form.changed_data:
            # An invited outsider attached to an organisation gets the full personal role.
            personal_worklist_sync(actor=request.user, user=form.instance, request=request)
