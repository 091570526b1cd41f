import uuid

from django.conf import settings
from django.db import models


def instance_upload_to(instance: "Instance", filename: str) -> str:
    # Server-generated names only: nothing from DICOM attributes or the uploaded file's name.
    return f"dicom/{uuid.uuid4().hex[:2]}/{uuid.uuid4().hex}.dcm"


class Study(models.Model):
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    study_instance_uid = models.CharField(max_length=64, unique=True)
    patient_name = models.CharField(max_length=200, blank=True, db_index=True)
    patient_id = models.CharField(max_length=64, blank=True, db_index=True)
    issuer_of_patient_id = models.CharField(max_length=64, blank=True)
    patient_birth_date = models.DateField(null=True, blank=True)
    patient_sex = models.CharField(max_length=16, blank=True)
    study_date = models.DateField(null=True, blank=True, db_index=True)
    study_time = models.TimeField(null=True, blank=True)
    study_description = models.CharField(max_length=200, blank=True)
    accession_number = models.CharField(max_length=64, blank=True, db_index=True)
    referring_physician_name = models.CharField(max_length=200, blank=True)
    study_id = models.CharField(max_length=64, blank=True)
    # Backslash-free, space-separated list such as "CT MR", kept in step with the series.
    modalities_in_study = models.CharField(max_length=100, blank=True)
    number_of_series = models.PositiveIntegerField(default=0)
    number_of_instances = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "studies"
        ordering = ["-study_date", "-study_time", "-id"]
        indexes = [
            # The worklist table's sorts, walked in either direction (studies.selectors.SORTS).
            models.Index(fields=["study_date", "study_time", "id"], name="study_date_time_id"),
            models.Index(fields=["patient_name", "study_date", "id"], name="study_name_date_id"),
        ]
        # On PostgreSQL the search also has trigram and prefix indexes (migration
        # 0004_worklist_search_indexes), which SQLite has no use for.

    def __str__(self) -> str:
        date = self.study_date or ""
        return f"{self.patient_name or 'Unknown'} {date} {self.study_description}".strip()

    @property
    def modalities(self) -> list[str]:
        return self.modalities_in_study.split()

    @property
    def patient_display_name(self) -> str:
        """'OKAFOR, Daniel' from the DICOM person name 'Okafor^Daniel'."""
        family, given, middle, _prefix, _suffix = person_name_components(self.patient_name)
        first = " ".join(part for part in (given, middle) if part)
        if not family:
            return first or "Unknown"
        return f"{family.upper()}, {first}" if first else family.upper()

    @property
    def referring_physician_display_name(self) -> str:
        """'Dr Imogen Hart' from the DICOM person name 'Hart^Imogen^^Dr'."""
        family, given, middle, prefix, suffix = person_name_components(
            self.referring_physician_name
        )
        return " ".join(part for part in (prefix, given, middle, family, suffix) if part)


def person_name_components(value: str) -> tuple[str, str, str, str, str]:
    """A DICOM PN's alphabetic group as (family, given, middle, prefix, suffix)."""
    alphabetic = (value or "").split("=")[0]
    parts = [part.strip() for part in alphabetic.split("^")] + [""] * 5
    return parts[0], parts[1], parts[2], parts[3], parts[4]


class Series(models.Model):
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="series")
    series_instance_uid = models.CharField(max_length=64, unique=True)
    modality = models.CharField(max_length=16, blank=True)
    series_number = models.IntegerField(null=True, blank=True)
    series_description = models.CharField(max_length=200, blank=True)
    body_part_examined = models.CharField(max_length=64, blank=True)
    number_of_instances = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name_plural = "series"
        ordering = ["series_number", "id"]

    def __str__(self) -> str:
        return f"{self.modality} {self.series_number or ''} {self.series_description}".strip()


class Instance(models.Model):
    series = models.ForeignKey(Series, on_delete=models.CASCADE, related_name="instances")
    sop_instance_uid = models.CharField(max_length=64, unique=True)
    sop_class_uid = models.CharField(max_length=64, blank=True)
    instance_number = models.IntegerField(null=True, blank=True)
    rows = models.PositiveIntegerField(null=True, blank=True)
    columns = models.PositiveIntegerField(null=True, blank=True)
    number_of_frames = models.PositiveIntegerField(default=1)
    transfer_syntax_uid = models.CharField(max_length=64, blank=True)
    photometric_interpretation = models.CharField(max_length=32, blank=True)
    bits_allocated = models.PositiveSmallIntegerField(null=True, blank=True)
    window_center = models.FloatField(null=True, blank=True)
    window_width = models.FloatField(null=True, blank=True)
    slice_location = models.FloatField(null=True, blank=True)
    file = models.FileField(upload_to=instance_upload_to, max_length=255)
    file_size = models.PositiveBigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["instance_number", "slice_location", "id"]

    def __str__(self) -> str:
        return self.sop_instance_uid


class WorklistEntry(models.Model):
    """A study's presence in a worklist: who added it, when, and how (`source`)."""

    class Source(models.TextChoices):
        UPLOAD = "upload", "Uploaded"
        IMPORT = "import", "Imported"
        SHARE = "share", "Shared"
        GUEST_UPLOAD = "guest_upload", "Guest upload"
        DICOM = "dicom", "Received over DICOM"
        DICOMWEB = "dicomweb", "Stored over DICOMweb"

    worklist = models.ForeignKey(
        "worklists.Worklist", on_delete=models.CASCADE, related_name="entries"
    )
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="entries")
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    added_at = models.DateTimeField(auto_now_add=True, db_index=True)
    source = models.CharField(max_length=20, choices=Source.choices, default=Source.UPLOAD)
    # The share that brought the study here, when one did, is `entry.share`: the sharing app's
    # Share.entry points here (studies knows nothing of sharing).
    # How it arrived, in words, where the source alone does not say it (an upload through an
    # upload link: "Uploaded by <name> through upload link <label>").
    note = models.CharField(max_length=300, blank=True)

    class Meta:
        verbose_name_plural = "worklist entries"
        indexes = [
            models.Index(fields=["worklist", "added_at", "id"], name="entry_worklist_added_id")
        ]
        constraints = [
            models.UniqueConstraint(fields=["worklist", "study"], name="study_once_per_worklist")
        ]

    def __str__(self) -> str:
        return f"{self.study} in {self.worklist}"
