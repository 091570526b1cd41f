from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.models import Group, Permission
from django.db.models import Case, QuerySet, When
from django.forms import ModelForm
from django.http import HttpRequest
from guardian.admin import GuardedModelAdmin

from accounts.admin import UserAdmin as AccountsUserAdmin
from accounts.models import User
from audit.admin import AuditedAdminMixin, AuditedObjectPermissionsMixin
from audit.models import AuditEvent

from . import services
from .models import (
    PRODUCT_PERMISSION_CODENAMES,
    Membership,
    Role,
    Worklist,
    product_permissions,
)


def save_membership_formset(request: HttpRequest, formset: Any) -> None:
    """Memberships edited inline (on a worklist's page or a user's) go through the services,
    so that the user's guardian role group follows the role."""
    instances = formset.save(commit=False)
    for membership in formset.deleted_objects:
        services.membership_delete(actor=request.user, membership=membership, request=request)
    for membership in instances:
        services.membership_save(actor=request.user, membership=membership, request=request)
    formset.save_m2m()


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]
    fields = ["user", "role", "created_at"]
    readonly_fields = ["created_at"]


@admin.register(Worklist)
# For mypy, guardian's mixin and ModelAdmin disagree on a template attribute's type, which only
# shows once the class has a second base; at run time guardian's wins, as before.
class WorklistAdmin(  # type: ignore[misc]
    AuditedObjectPermissionsMixin, AuditedAdminMixin, GuardedModelAdmin
):
    # Changes of the worklist, and of the object permissions granted on it (its "Object
    # permissions" pages), are both in the audit trail.
    audit_action = AuditEvent.Action.WORKLIST_CHANGED
    list_display = [
        "name",
        "kind",
        "organisation",
        "share_code_display",
        "ae_title",
        "owner",
        "created_at",
    ]
    list_filter = ["kind", "organisation"]
    search_fields = ["name", "share_code", "ae_title", "organisation__name", "owner__username"]
    list_select_related = ["organisation", "owner"]
    readonly_fields = ["share_code_display", "public_id", "created_at"]
    autocomplete_fields = ["organisation", "owner"]
    inlines = [MembershipInline]
    actions = ["regenerate_share_codes"]

    def save_formset(
        self, request: HttpRequest, form: ModelForm, formset: Any, change: bool
    ) -> None:
        save_membership_formset(request, formset)

    @admin.action(description="Regenerate share codes of the selected worklists")
    def regenerate_share_codes(self, request: HttpRequest, queryset: QuerySet[Worklist]) -> None:
        for worklist in queryset:
            services.worklist_regenerate_share_code(
                actor=request.user, worklist=worklist, request=request
            )
        self.message_user(
            request, f"New share codes for {queryset.count()} worklist(s).", messages.SUCCESS
        )


class ProductPermissionsField(forms.ModelMultipleChoiceField):
    """The product's permissions by their own names ("Studies: share study via email"), not
    Django's "app | model | name"."""

    def label_from_instance(self, obj: Any) -> str:
        return str(obj.name)


def product_permissions_in_product_order() -> QuerySet[Permission]:
    """The product's permissions in the order the product lists them (studies, then links)."""
    order = Case(
        *(
            When(codename=codename, then=i)
            for i, codename in enumerate(PRODUCT_PERMISSION_CODENAMES)
        )
    )
    return product_permissions().order_by(order)


@admin.register(Role)
class RoleAdmin(AuditedAdminMixin, admin.ModelAdmin):
    # Saves are recorded by services.role_save (with the role's permissions); deletions here.
    audit_action = AuditEvent.Action.ROLE_CHANGED
    audit_saves = False
    list_display = ["name", "description"]
    search_fields = ["name", "description"]

    def formfield_for_manytomany(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "permissions":
            # A dozen permissions: all visible at once as checkboxes, full names, no scrolling.
            return db_field.formfield(
                form_class=ProductPermissionsField,
                queryset=product_permissions_in_product_order(),
                widget=forms.CheckboxSelectMultiple,
                help_text="What members with this role may do, within each worklist where "
                "they have it.",
            )
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def save_related(
        self, request: HttpRequest, form: ModelForm, formsets: Any, change: bool
    ) -> None:
        super().save_related(request, form, formsets, change)
        services.role_save(actor=request.user, role=form.instance, request=request)


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "worklist", "role", "created_at"]
    list_filter = ["role", "worklist__kind", "worklist__organisation"]
    search_fields = ["user__username", "user__email", "worklist__name", "role__name"]
    list_select_related = ["user", "worklist", "role"]
    autocomplete_fields = ["user", "worklist"]

    def save_model(
        self, request: HttpRequest, obj: Membership, form: ModelForm, change: bool
    ) -> None:
        services.membership_save(actor=request.user, membership=obj, request=request)

    def delete_model(self, request: HttpRequest, obj: Membership) -> None:
        services.membership_delete(actor=request.user, membership=obj, request=request)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Membership]) -> None:
        for membership in queryset:
            services.membership_delete(actor=request.user, membership=membership, request=request)


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
class UserAdmin(AccountsUserAdmin):
    """Users, with their worklists and roles (memberships) and the role groups kept apart."""

    inlines = [UserMembershipInline]

    def formfield_for_manytomany(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "groups":
            # Role groups ("worklist <id> role <n>") belong to memberships, shown inline.
            kwargs["queryset"] = Group.objects.filter(role_group__isnull=True)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

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
        if change and "organisation" in form.changed_data:
            # An invited outsider attached to an organisation gets the full personal role.
            services.personal_worklist_sync(actor=request.user, user=form.instance, request=request)

    def save_formset(
        self, request: HttpRequest, form: ModelForm, formset: Any, change: bool
    ) -> None:
        if formset.model is not Membership:
            super().save_formset(request, form, formset, change)
            return
        save_membership_formset(request, formset)
