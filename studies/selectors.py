"""Read paths for studies: the worklist table, the study page, priors."""

from datetime import date
from typing import Any

from django.db.models import Q, QuerySet

from worklists.models import Worklist

from .models import Series, Study, WorklistEntry

SORTS = {
    "date": ("-study__study_date", "-study__study_time", "-id"),
    "-date": ("study__study_date", "study__study_time", "id"),
    "name": ("study__patient_name", "-study__study_date", "id"),
    "-name": ("-study__patient_name", "-study__study_date", "id"),
    "added": ("-added_at", "-id"),
}


def worklist_entries(
    *,
    worklist: Worklist,
    query: str = "",
    modality: str = "",
    date_from: date | None = None,
    date_to: date | None = None,
    sort: str = "date",
) -> QuerySet[WorklistEntry]:
    """The studies table of one worklist. Permission is checked by the caller's access helper."""
    entries = WorklistEntry.objects.filter(worklist=worklist).select_related("study")
    for term in query.split():
        entries = entries.filter(
            Q(study__patient_name__icontains=term)
            | Q(study__patient_id__icontains=term)
            | Q(study__accession_number__icontains=term)
            | Q(study__study_description__icontains=term)
            | Q(study__referring_physician_name__icontains=term)
        )
    if modality:
        # Modalities are stored space-separated; pad so "CT" does not match "CTX".
        entries = entries.filter(study__modalities_in_study__regex=rf"(^| ){modality}( |$)")
    if date_from:
        entries = entries.filter(study__study_date__gte=date_from)
    if date_to:
        entries = entries.filter(study__study_date__lte=date_to)
    return entries.order_by(*SORTS.get(sort, SORTS["date"]))


def study_series(study: Study) -> QuerySet[Series]:
    return study.series.all().prefetch_related("instances").order_by("series_number", "id")


def study_priors(*, study: Study, worklists: Any) -> QuerySet[Study]:
    """Earlier studies of the same patient in the given worklists."""
    if not study.patient_id:
        return Study.objects.none()
    priors = Study.objects.filter(
        patient_id=study.patient_id,
        issuer_of_patient_id=study.issuer_of_patient_id,
        entries__worklist__in=worklists,
    ).exclude(pk=study.pk)
    if study.study_date:
        priors = priors.filter(Q(study_date__lt=study.study_date) | Q(study_date__isnull=True))
    return priors.distinct().order_by("-study_date", "-id")


def study_entry_note(*, study: Study, worklist: Worklist) -> str:
    """How the study arrived in this worklist, in words, when its entry says (an upload link's
    uploads: "Uploaded by ... through upload link ...")."""
    return (
        WorklistEntry.objects.filter(worklist=worklist, study=study)
        .values_list("note", flat=True)
        .first()
        or ""
    )
