"""Frames for the viewer: who may fetch them, rendering through the cache, pre-rendering.

The glue between the ORM, file storage, `rendering` (pure) and `framecache`.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO

from django.conf import settings
from django.db.models import Exists, OuterRef, QuerySet
from django.http import Http404, HttpRequest
from django.utils.http import quote_etag

from audit.services import record_series_viewed
from studies import rendering
from studies.access import guest_link_ended_message, guest_link_id, guest_study_ids
from studies.models import Instance, Series, Study, WorklistEntry
from studies.rendering import JPEG, MONOCHROME, PNG, RenderError, RenderParams
from studies.viewer import VIEWER_MAX_SIZE
from worklists.access import worklist_perm_params, worklist_perm_sql, worklists_for_user

from .framecache import cache_key, frame_cache
from .objectfiles import open_stream

logger = logging.getLogger(__name__)

# The default view: what the viewer asks for first and what pre-rendering stores.
THUMBNAIL_SIZE = (256, 256)
THUMBNAIL_QUALITY = 80


# --- Access -----------------------------------------------------------------------------------


def _with_access(queryset: QuerySet, request: HttpRequest, study_field: str) -> QuerySet:
    """Annotate `allowed`: the clinician may view and search a worklist holding the study.

    One query in all: the permission check is an EXISTS subquery over the worklist entries,
    using `worklists.access` like every other page.
    """
    user = request.user
    if not (getattr(user, "is_authenticated", False) and user.is_active):
        return queryset
    visible = WorklistEntry.objects.filter(
        study_id=OuterRef(study_field), worklist__in=worklists_for_user(user, "view_studies")
    )
    return queryset.annotate(allowed=Exists(visible))


class SessionEnded(Exception):
    """A request with no one signed in and no live guest session: the viewer is told to stop
    (the same whether the image exists or not). `link_message` when a guest's link was
    deleted, locked or expired while they were viewing."""

    def __init__(self, link_message: str | None = None) -> None:
        super().__init__(link_message or "No session.")
        self.link_message = link_message


def _check(request: HttpRequest, obj: object | None, study_id: int | None) -> None:
    if obj is not None and getattr(obj, "allowed", False):
        return
    guest_ids = guest_study_ids(request)
    if obj is not None and study_id in guest_ids:
        return
    if not guest_ids and not getattr(request.user, "is_authenticated", False):
        raise SessionEnded(guest_link_ended_message(request))
    raise Http404("No such image.")


@functools.lru_cache(maxsize=2)
def _instance_sql(with_user: bool) -> str:
    """One query: the instance by its three UIDs and whether the user may see its study.

    The hot path of every frame request, so it is plain SQL (building the equivalent ORM
    query costs more than running it). The permission part is `worklists.access`'s fast form
    (`worklist_perm_sql`), held equal to its general answer by a test.
    """
    tables = {
        "instance": Instance._meta.db_table,
        "series": Series._meta.db_table,
        "study": Study._meta.db_table,
        "entry": WorklistEntry._meta.db_table,
    }
    allowed = (
        ALLOWED_SQL.format(permitted=worklist_perm_sql("e.worklist_id"), **tables)
        if with_user
        else "0"
    )
    # Only table names from the models' metadata are formatted in; values are parameters.
    return INSTANCE_SQL.format(allowed=allowed, **tables)  # noqa: S608


ALLOWED_SQL = "EXISTS (SELECT 1 FROM {entry} e WHERE e.study_id = se.study_id AND {permitted})"
INSTANCE_SQL = """SELECT i.*, se.study_id AS study_id, {allowed} AS allowed
    FROM {instance} i JOIN {series} se ON se.id = i.series_id
    JOIN {study} st ON st.id = se.study_id
    WHERE i.sop_instance_uid = %s AND se.series_instance_uid = %s AND st.study_instance_uid = %s"""


def get_instance_for_request(
    request: HttpRequest, study_uid: str, series_uid: str, sop_uid: str
) -> Instance:
    """The instance, if it belongs to that series and study and this clinician or guest may
    see the study; otherwise 404, as if it did not exist. One query."""
    user = request.user
    params: list[object] = [sop_uid, series_uid, study_uid]
    with_user = bool(getattr(user, "is_authenticated", False) and user.is_active)
    if with_user:
        params = worklist_perm_params(user, "view_studies") + params
    found = list(Instance.objects.raw(_instance_sql(with_user), params))
    instance = found[0] if found else None
    _check(request, instance, instance.study_id if instance else None)  # type: ignore[attr-defined]
    return instance  # type: ignore[return-value]


def get_series_for_request(request: HttpRequest, study_uid: str, series_uid: str) -> Series:
    queryset = Series.objects.filter(
        series_instance_uid=series_uid, study__study_instance_uid=study_uid
    ).select_related("study")
    series = _with_access(queryset, request, "study_id").first()
    _check(request, series, series.study_id if series else None)
    return series  # type: ignore[return-value]


def record_viewed(request: HttpRequest, study_uid: str, series_uid: str) -> None:
    """The audit trail's "images viewed", once per session and series (audit.services): the
    first frame of a series writes it, later frames find it in the session and cost nothing."""
    signed_in = getattr(request.user, "is_authenticated", False)
    record_series_viewed(
        request=request,
        study_instance_uid=study_uid,
        series_instance_uid=series_uid,
        guest_link_id=None if signed_in else guest_link_id(request),
    )


def first_instance(series: Series) -> Instance:
    instance = series.instances.order_by("instance_number", "slice_location", "id").first()
    if instance is None:
        raise Http404("This series has no images.")
    instance.series = series
    return instance


# --- Rendering through the cache --------------------------------------------------------------


def limits() -> rendering.Limits:
    return rendering.Limits(
        max_pixels=settings.DICOM_MAX_PIXELS,
        max_frames=settings.DICOM_MAX_FRAMES,
        max_inflated=settings.DICOM_MAX_FILE_SIZE,
    )


class RenderBusy(RenderError):
    """Too many large frames are being rendered in this process; try again shortly."""


# Large frames (more than LARGE_FRAME_SAMPLES samples) are rendered at most
# RENDER_MAX_CONCURRENT_LARGE at a time per process, so a worker's memory stays within its
# budget however many threads it runs (figures in the README). Smaller frames never wait.
LARGE_FRAME_SAMPLES = 2048 * 2048
LARGE_RENDER_WAIT_SECONDS = 30
_slots: dict[int, threading.BoundedSemaphore] = {}
_slots_lock = threading.Lock()


@contextmanager
def large_render_slot(timeout: float | None = None) -> Iterator[None]:
    """Hold one of this process's RENDER_MAX_CONCURRENT_LARGE slots for a large render;
    RenderBusy when none frees up within `timeout` (default LARGE_RENDER_WAIT_SECONDS)."""
    size = settings.RENDER_MAX_CONCURRENT_LARGE
    with _slots_lock:
        slots = _slots.setdefault(size, threading.BoundedSemaphore(size))
    wait = LARGE_RENDER_WAIT_SECONDS if timeout is None else timeout
    if not slots.acquire(timeout=wait):
        raise RenderBusy(
            "The server is busy rendering other large images; try again in a moment.",
            permanent=False,
        )
    try:
        yield
    finally:
        slots.release()


def frame_samples(instance: Instance) -> int:
    """Samples in one frame, from the row (checked at ingest against the limits)."""
    photometric = instance.photometric_interpretation.upper()
    colours = 1 if photometric in (*MONOCHROME, "PALETTE COLOR", "") else 3
    return (instance.rows or 0) * (instance.columns or 0) * colours


def _render(instance: Instance, params: RenderParams) -> bytes:
    source = _source(instance)
    try:
        if frame_samples(instance) <= LARGE_FRAME_SAMPLES:
            return rendering.render(source, params, limits())
        with large_render_slot():
            return rendering.render(source, params, limits())
    finally:
        if not isinstance(source, str):
            source.close()


def default_viewport(instance: Instance) -> tuple[int, int] | None:
    rows, columns = instance.rows or 0, instance.columns or 0
    if rows > VIEWER_MAX_SIZE or columns > VIEWER_MAX_SIZE:
        return (VIEWER_MAX_SIZE, VIEWER_MAX_SIZE)
    return None


def default_params(instance: Instance, frame: int = 0) -> RenderParams:
    """The view the viewer opens with (file window, PNG, full size up to VIEWER_MAX_SIZE)."""
    return RenderParams(frame=frame, viewport=default_viewport(instance), media_type=PNG)


def thumbnail_params(media_type: str = JPEG) -> RenderParams:
    return RenderParams(
        frame=0, viewport=THUMBNAIL_SIZE, media_type=media_type, quality=THUMBNAIL_QUALITY
    )


def frame_key(instance: Instance, params: RenderParams) -> str:
    return cache_key(
        sop_instance_uid=instance.sop_instance_uid,
        file_name=instance.file.name or "",
        file_size=instance.file_size,
        params=params,
    )


def etag_for(key: str) -> str:
    return quote_etag(key)


def _source(instance: Instance) -> str | IO[bytes]:
    storage, name = instance.file.storage, instance.file.name or ""
    try:
        return storage.path(name)
    except NotImplementedError:  # object storage: read by ranges, never a whole-file copy
        try:
            return open_stream(storage, name, instance.file_size or None)
        except Exception as exc:  # the storage's own errors (botocore's, OSError, ...)
            raise RenderError("The image file is missing.", permanent=False) from exc


REFUSED = "refused"  # the media type of a cached refusal's key (never a real one)


def refusal_key(instance: Instance, frame: int) -> str:
    """Where a frame's refusal is cached: it does not depend on the window, size or format."""
    return frame_key(instance, RenderParams(frame=frame, media_type=REFUSED))


def rendered_frame(instance: Instance, params: RenderParams, key: str | None = None) -> bytes:
    """The encoded image, from the cache or rendered (and then cached). RenderError if not.

    A frame the file itself makes unrenderable (too large, a codestream that disagrees with
    the header, damaged data) is refused once and the refusal cached, so asking again costs
    two cache reads instead of another attempt."""
    key = key or frame_key(instance, params)
    cache = frame_cache()
    data = cache.get(key)
    if data is not None:
        return data
    if params.frame >= instance.number_of_frames:
        raise RenderError(f"Frame {params.frame + 1} does not exist.")
    refused_at = refusal_key(instance, params.frame)
    refused = cache.get(refused_at)
    if refused is not None:
        raise RenderError(refused.decode(errors="replace"))
    try:
        data = _render(instance, params)
    except RenderError as exc:
        if exc.permanent:
            cache.set(refused_at, exc.reason.encode())
        raise
    cache.set(key, data)
    return data


# --- Pre-rendering ----------------------------------------------------------------------------


def _prerender_params(instance: Instance) -> Iterator[RenderParams]:
    """Every frame's default view, then the thumbnail (a series' thumbnail is its first
    instance's: the same cache entry). Generated one at a time and never past
    DICOM_MAX_FRAMES, whatever a row says (rows stored before ingest checked the count)."""
    for frame in range(min(instance.number_of_frames, settings.DICOM_MAX_FRAMES)):
        yield default_params(instance, frame)
    yield thumbnail_params()


@dataclass
class PrerenderReport:
    frames: int = 0
    thumbnails: int = 0
    failed: int = 0


def study_prerender(*, study: Study) -> PrerenderReport:
    """Render and cache the default view of every frame and every thumbnail of a study,
    so the first image a recipient opens is already waiting."""
    report = PrerenderReport()
    for series in study.series.prefetch_related("instances"):
        instances = sorted(
            series.instances.all(),
            key=lambda i: (i.instance_number is None, i.instance_number or 0, i.id),
        )
        for instance in instances:
            instance.series = series
            for params in _prerender_params(instance):
                try:
                    rendered_frame(instance, params)
                except RenderError as exc:
                    report.failed += 1
                    logger.warning(
                        "Pre-render of instance %s frame %s failed: %s",
                        instance.pk,
                        params.frame + 1,
                        exc.reason,
                    )
                    break  # the other frames of a broken file fail the same way
                if params.viewport == THUMBNAIL_SIZE:
                    report.thumbnails += 1
                else:
                    report.frames += 1
    return report
