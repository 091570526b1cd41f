"""Studies in Django admin: read-only. Studies come in through the ingest service (uploads,
`import_dicom`, shares), which stores files and keeps counts right; the admin only looks."""

from django.contrib import admin

from audit.admin import ReadOnlyAdminMixin

from .models import Series, Study, WorklistEntry


class SeriesInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = Series
    fields = readonly_fields = (
        "series_number",
        "modality",
        "series_description",
        "number_of_instances",
    )
    extra = 0
    show_change_link = False


class WorklistEntryInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = WorklistEntry
    fields = readonly_fields = ("worklist", "source", "added_by", "added_at")
    extra = 0


@admin.register(Study)
class StudyAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "patient_name",
        "patient_id",
        "study_date",
        "modalities_in_study",
        "study_description",
        "accession_number",
        "number_of_series",
        "number_of_instances",
    ]
    list_filter = ["modalities_in_study", "study_date", "entries__worklist"]
    search_fields = ["patient_name", "patient_id", "accession_number", "study_instance_uid"]
    date_hierarchy = "study_date"
    inlines = [SeriesInline, WorklistEntryInline]
