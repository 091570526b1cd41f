"""The image viewer page, shared by clinicians and guests."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

from accounts.referrer import send_no_referrer

from .models import Instance, Series, Study
from .rendering import JPEG

VIEWER_MAX_SIZE = 2048  # larger images are shown scaled to fit this box (dicomweb renders so)

CT_PRESETS = [
    {"key": "brain", "label": "Brain", "center": 40, "width": 80},
    {"key": "soft", "label": "Soft tissue", "center": 40, "width": 400},
    {"key": "lung", "label": "Lung", "center": -600, "width": 1500},
    {"key": "bone", "label": "Bone", "center": 400, "width": 1800},
    {"key": "liver", "label": "Liver", "center": 60, "width": 160},
]
PRESETS_BY_MODALITY = {"CT": CT_PRESETS}
# The lossy preview a slice may show first (marked as such until its lossless image replaces
# it): small enough that the first image, and then the whole series, arrive fast on a phone's
# slow network. Measured on the demo CT's 40 slices: JPEG 70 at 512 is 22 KB a slice, at 384
# 12 KB (the series in 2.5 s at 1.6 Mbit/s instead of 4.6 s).
PREVIEW = {"quality": 70, "size": 384}


def preview_url(dicomweb: str, study_uid: str, series_uid: str, instance: list[Any]) -> str:
    """The first frame's preview; viewer.js builds the same URL (`previewUrl`), so that the
    browser uses the page's preload of it."""
    sop, _, _, columns, rows = instance
    url = (
        f"{dicomweb}/studies/{study_uid}/series/{series_uid}/instances/{sop}/frames/1/rendered"
        f"?accept={JPEG}&quality={PREVIEW['quality']}"
    )
    if max(columns or 0, rows or 0) > PREVIEW["size"]:
        url += f"&viewport={PREVIEW['size']},{PREVIEW['size']}"
    return url


def _label(study: Study) -> str:
    date = study.study_date.strftime("%d/%m/%Y") if study.study_date else "date unknown"
    return " · ".join(p for p in (date, study.modalities_in_study, study.study_description) if p)


def viewer_studies(studies: Iterable[Study]) -> list[dict[str, Any]]:
    """Series and frames of these studies, for the viewer's JSON: two queries in all."""
    studies = list(studies)
    series_list = list(Series.objects.filter(study__in=studies).order_by("series_number", "id"))
    by_series: dict[int, list[list[Any]]] = defaultdict(list)
    windows: dict[int, list[float]] = {}
    rows = (
        Instance.objects.filter(series__in=series_list)
        .order_by("instance_number", "slice_location", "id")
        .values_list(
            "series_id",
            "sop_instance_uid",
            "number_of_frames",
            "rows",
            "columns",
            "window_center",
            "window_width",
        )
    )
    for series_id, sop, frames, height, width, center, window_width in rows:
        big = (height or 0) > VIEWER_MAX_SIZE or (width or 0) > VIEWER_MAX_SIZE
        viewport = f"{VIEWER_MAX_SIZE},{VIEWER_MAX_SIZE}" if big else ""
        # Never more frames than an instance may have (rows stored before ingest checked it).
        frames = min(max(frames or 1, 1), settings.DICOM_MAX_FRAMES)
        by_series[series_id].append([sop, frames, viewport, width, height])
        if series_id not in windows and center is not None and window_width:
            windows[series_id] = [center, window_width]
    series_by_study: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for series in series_list:
        if not by_series[series.pk]:
            continue
        series_by_study[series.study_id].append(
            {
                "uid": series.series_instance_uid,
                "number": series.series_number,
                "modality": series.modality,
                "description": series.series_description,
                "window": windows.get(series.pk),
                "presets": PRESETS_BY_MODALITY.get(series.modality, []),
                "instances": by_series[series.pk],
            }
        )
    return [
        {
            "uid": study.study_instance_uid,
            "label": _label(study),
            "date": study.study_date.strftime("%d/%m/%Y") if study.study_date else "",
            # Compared with the first study's: a guest link for several studies may hold later
            # ones than the study it opened on, which are not priors.
            "isoDate": study.study_date.isoformat() if study.study_date else "",
            "description": study.study_description,
            "series": series_by_study[study.pk],
        }
        for study in studies
    ]


def render_viewer(
    request: HttpRequest,
    study: Study,
    *,
    guest: bool,
    priors: Iterable[Study] = (),
    banner: str | None = None,
    back_url: str | None = None,
    downloads: dict[str, str] | None = None,
) -> HttpResponse:
    """The viewer page. With guest=True it has no way into the rest of the app: no top bar,
    no worklist links; a patient banner (plus `banner`, e.g. who shared it) instead. Image
    URLs are the same /dicomweb/ URLs; access there is checked against the session.
    `downloads`: the URLs a "Download" menu posts to (`study`: a zip, `image`: the image on
    screen as PNG), when the viewer offers them."""
    priors = list(priors)
    dicomweb = reverse("dicomweb:series_thumbnail", kwargs={"study": "0", "series": "0"}).split(
        "/studies/"
    )[0]
    studies = viewer_studies([study, *priors])
    first = None
    if studies[0]["series"]:
        series = studies[0]["series"][0]
        first = preview_url(dicomweb, studies[0]["uid"], series["uid"], series["instances"][0])
    data = {
        "guest": guest,
        "dicomweb": dicomweb,
        "preview": PREVIEW,
        "patient": {
            "name": study.patient_display_name,
            "id": study.patient_id,
            "birthDate": study.patient_birth_date.strftime("%d/%m/%Y")
            if study.patient_birth_date
            else "",
            "sex": study.patient_sex,
        },
        "studies": studies,
    }
    context = {
        "study": study,
        "priors": priors,
        "guest": guest,
        "banner": banner,
        "back_url": None if guest else back_url,
        "viewer_data": data,
        "first_preview": first,
        "downloads": downloads,
    }
    response = render(request, "studies/viewer.html", context)
    response["Cache-Control"] = "private, no-store"
    return send_no_referrer(response) if guest else response
