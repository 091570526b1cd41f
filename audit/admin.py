import csv
import json
import uuid
from collections.abc import Iterable, Iterator
from datetime import date
from typing import Any

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.urls import path
from django.utils import timezone

from .dicom import EVENT_TYPES, actions_of_event_type
from .models import AuditEvent
from .services import admin_change_details, record_event


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


# Fields whose new values an audit event never holds (only that they changed).
SECRET_FIELD_MARKERS = ("password", "secret", "token", "digest")


class AuditedAdminMixin:
    """For the admin of records whose changes belong in the audit trail (organisations,
    partnerships, worklists, roles, users): every addition, change and deletion made in the
    admin records `audit_action`, with who, from where, the object, and what changed (the
    admin's change message, and the new values of changed fields, never a secret's).

    `audit_saves = False` when a service already records the save (roles): only deletions
    are recorded here. `audit_inline_actions` names the action for rows changed inline on the
    page (an organisation's partnerships), by the inline model. Put it before the admin class.
    """

    audit_action: str = ""
    audit_saves: bool = True
    audit_inline_actions: dict[Any, str] = {}  # inline model class -> action

    def construct_change_message(
        self, request: HttpRequest, form: Any, formsets: Any, add: bool = False
    ) -> Any:
        message = super().construct_change_message(request, form, formsets, add)  # type: ignore[misc]
        values = {}
        for name in getattr(form, "changed_data", []):
            if any(marker in name for marker in SECRET_FIELD_MARKERS):
                continue
            value = form.cleaned_data.get(name) if hasattr(form, "cleaned_data") else None
            values[name] = _plain(value)
        request._audit_new_values = values  # type: ignore[attr-defined]
        return message

    def log_addition(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        entry = super().log_addition(request, obj, message)  # type: ignore[misc]
        self._audit(request, obj, "added", message)
        return entry

    def log_change(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        entry = super().log_change(request, obj, message)  # type: ignore[misc]
        self._audit(request, obj, "changed", message)
        return entry

    def log_deletions(self, request: HttpRequest, queryset: Iterable[Any]) -> Any:
        # Before the rows go (the admin logs, then deletes, in one transaction).
        for obj in queryset:
            record_event(
                action=self.audit_action,
                actor=request.user,
                request=request,
                details={"operation": "deleted", **admin_change_details(obj=obj)},
            )
        return super().log_deletions(request, queryset)  # type: ignore[misc]

    def _audit(self, request: HttpRequest, obj: Any, operation: str, message: Any) -> None:
        if self.audit_saves:
            details = {"operation": operation, **admin_change_details(obj=obj, change=message)}
            values = getattr(request, "_audit_new_values", None)
            if values:
                details["values"] = values
            record_event(
                action=self.audit_action, actor=request.user, request=request, details=details
            )
        inline_actions = {
            str(model._meta.verbose_name): action
            for model, action in self.audit_inline_actions.items()
        }
        for item in message if isinstance(message, list) else []:
            for inline_operation, row in item.items():
                if not isinstance(row, dict) or row.get("name") not in inline_actions:
                    continue
                record_event(
                    action=inline_actions[row["name"]],
                    actor=request.user,
                    request=request,
                    details={
                        "operation": inline_operation,
                        "model": row["name"],
                        "object": str(row.get("object", ""))[:200],
                        "change": [item],
                        "via": admin_change_details(obj=obj),
                    },
                )


class AuditedObjectPermissionsMixin:
    """For a django-guardian `GuardedModelAdmin`: each change made on an object's "Object
    permissions" pages (a user's or a group's permissions on that object) records
    `object_permission_changed`, with who, from where, the object, whose permissions, and the
    permissions added and removed, in the same transaction as the change. Saving with nothing
    changed records nothing. Put it before the admin class."""

    audit_object_permission_action: str = AuditEvent.Action.OBJECT_PERMISSION_CHANGED

    def get_obj_perms_manage_user_form(self, request: HttpRequest) -> Any:
        form = super().get_obj_perms_manage_user_form(request)  # type: ignore[misc]
        return _audited_permissions_form(form, request, self.audit_object_permission_action)

    def get_obj_perms_manage_group_form(self, request: HttpRequest) -> Any:
        form = super().get_obj_perms_manage_group_form(request)  # type: ignore[misc]
        return _audited_permissions_form(form, request, self.audit_object_permission_action)


def _audited_permissions_form(form_class: Any, request: HttpRequest, action: str) -> Any:
    class AuditedForm(form_class):  # type: ignore[misc,valid-type]
        def save_obj_perms(self) -> None:
            before = {str(perm) for perm in self.get_obj_perms_field_initial()}
            with transaction.atomic():
                super().save_obj_perms()
                after = {str(perm) for perm in self.cleaned_data[self.get_obj_perms_field_name()]}
                if before == after:
                    return
                holder = getattr(self, "user", None)
                whose = (
                    {"user": holder.get_username()}
                    if holder is not None
                    else {"group": str(getattr(self, "group", ""))[:200]}
                )
                record_event(
                    action=action,
                    actor=request.user,
                    request=request,
                    details={
                        "operation": "changed",
                        **admin_change_details(obj=self.obj),
                        **whose,
                        "added": sorted(after - before),
                        "removed": sorted(before - after),
                    },
                )

    return AuditedForm


def _plain(value: Any) -> Any:
    """A form value as JSON: model instances and dates as text, lists of them as lists."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, QuerySet | list | tuple | set):
        return sorted(str(item) for item in value)
    return str(value)[:200]


# --- The trail's own admin -------------------------------------------------------------


class InputFilter(admin.SimpleListFilter):
    """A text box in the filter sidebar (a user, a study UID, a link id, a date): the list
    has no fixed choices for those. The other filters and the search stay as they were."""

    template = "admin/audit/input_filter.html"
    input_type = "text"
    placeholder = ""

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return []

    def has_output(self) -> bool:
        return True

    def value(self) -> str:
        return (super().value() or "").strip()

    def choices(self, changelist: Any) -> Iterator[Any]:
        keep = [
            (name, value)
            for name, values in changelist.params.items()
            if name not in (self.parameter_name, "p")
            for value in (values if isinstance(values, list) else [values])
        ]
        yield {
            "value": self.value(),
            "parameter_name": self.parameter_name,
            "input_type": self.input_type,
            "placeholder": self.placeholder,
            "keep": keep,
        }

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        return self.filter(queryset, value) if value else queryset

    def filter(self, queryset: QuerySet, value: str) -> QuerySet:
        raise NotImplementedError


class UserFilter(InputFilter):
    title = "user"
    parameter_name = "user"
    placeholder = "username"

    def filter(self, queryset: QuerySet, value: str) -> QuerySet:
        return queryset.filter(actor_label__iexact=value)


class StudyFilter(InputFilter):
    title = "study (Study Instance UID)"
    parameter_name = "study"
    placeholder = "1.2.840..."

    def filter(self, queryset: QuerySet, value: str) -> QuerySet:
        return queryset.filter(study_instance_uid=value)


class LinkFilter(InputFilter):
    title = "guest or upload link (public id)"
    parameter_name = "link"

    def filter(self, queryset: QuerySet, value: str) -> QuerySet:
        try:
            return queryset.filter(guest_link_id=uuid.UUID(value))
        except ValueError:
            return queryset.none()


class _DateFilter(InputFilter):
    input_type = "date"
    lookup = ""

    def filter(self, queryset: QuerySet, value: str) -> QuerySet:
        try:
            day = date.fromisoformat(value)
        except ValueError:
            return queryset.none()
        return queryset.filter(**{f"created_at__date__{self.lookup}": day})


class FromDateFilter(_DateFilter):
    title = "from (date)"
    parameter_name = "from"
    lookup = "gte"


class UntilDateFilter(_DateFilter):
    title = "until (date, included)"
    parameter_name = "until"
    lookup = "lte"


class DicomEventFilter(admin.SimpleListFilter):
    title = "DICOM event type (PS3.15 A.5)"
    parameter_name = "dicom_event"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(event_type, event_type) for event_type in EVENT_TYPES]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        return queryset.filter(action__in=actions_of_event_type(value)) if value else queryset


CSV_COLUMNS = [
    "time",
    "action",
    "action_label",
    "dicom_event",
    "outcome",
    "user",
    "link",
    "study_instance_uid",
    "ip_address",
    "user_agent",
    "details",
]


def csv_safe(value: Any) -> str:
    """A cell a spreadsheet shows as text: one starting with = + - @ (or a tab or carriage
    return, which some strip first) would run as a formula, so it gets a leading quote."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def csv_row(event: AuditEvent) -> list[str]:
    return [
        csv_safe(cell)
        for cell in (
            event.created_at.isoformat(),
            event.action,
            event.get_action_display(),
            event.dicom_event,
            event.outcome,
            event.actor_label,
            event.guest_link_id or "",
            event.study_instance_uid,
            event.ip_address or "",
            event.user_agent,
            json.dumps(event.details, sort_keys=True, ensure_ascii=False) if event.details else "",
        )
    ]


class _Echo:
    def write(self, value: str) -> str:
        return value


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "created_at",
        "action",
        "dicom_event_type",
        "outcome",
        "actor_label",
        "guest_link_id",
        "study_instance_uid",
        "ip_address",
    ]
    list_filter = [
        "action",
        DicomEventFilter,
        "outcome",
        UserFilter,
        StudyFilter,
        LinkFilter,
        "created_at",
        FromDateFilter,
        UntilDateFilter,
    ]
    search_fields = ["actor_label", "study_instance_uid", "ip_address", "guest_link_id"]
    date_hierarchy = "created_at"
    list_select_related = ["actor"]
    # The export streams these; the list pages them.
    export_chunk_size = 2000

    def get_readonly_fields(self, request: HttpRequest, obj: AuditEvent | None = None) -> list[str]:
        return [field.name for field in self.model._meta.fields] + ["dicom_event_type"]

    @admin.display(description="DICOM event type")
    def dicom_event_type(self, obj: AuditEvent) -> str:
        return obj.dicom_event or "—"

    def get_urls(self) -> list[Any]:
        export = self.admin_site.admin_view(self.export_csv)
        return [path("export/", export, name="audit_auditevent_export"), *super().get_urls()]

    def export_csv(self, request: HttpRequest) -> HttpResponseBase:
        """The list as filtered and searched now, every page of it, as CSV (streamed). The
        export is itself an event ("Audit Log Used")."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            changelist = self.get_changelist_instance(request)
        except IncorrectLookupParameters:
            return HttpResponse("Those filters are not valid.", status=400)
        queryset = changelist.get_queryset(request)
        with transaction.atomic():
            record_event(
                action=AuditEvent.Action.AUDIT_EXPORTED,
                actor=request.user,
                request=request,
                details={"filters": {name: request.GET.getlist(name) for name in request.GET}},
            )
        writer = csv.writer(_Echo())
        rows = (
            writer.writerow(csv_row(event))
            for event in queryset.iterator(chunk_size=self.export_chunk_size)
        )
        stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
        return StreamingHttpResponse(
            _with_header(writer.writerow(CSV_COLUMNS), rows),
            content_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="audit-{stamp}.csv"',
                "Cache-Control": "no-store",
            },
        )


def _with_header(header: str, rows: Iterator[str]) -> Iterator[str]:
    yield header
    yield from rows
