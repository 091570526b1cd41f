from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.models import Permission
from django.db.models import Case, QuerySet, When
from django.forms import ModelForm
from django.http import HttpRequest
from guardian.admin import GuardedModelAdmin

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
class WorklistAdmin(GuardedModelAdmin):
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
class RoleAdmin(admin.ModelAdmin):
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
