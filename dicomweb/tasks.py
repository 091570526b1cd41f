"""Background work for studies: pre-render the viewer's first images after ingest."""

from celery import shared_task
from django.conf import settings

from notifications.queueing import enqueue_quietly
from studies.models import Study

from . import framecache, frames


@shared_task(soft_time_limit=1800, time_limit=1900)
def prerender_study(study_id: int) -> dict[str, int]:
    """Render and cache the default view of every frame and the thumbnails of a study."""
    study = Study.objects.filter(pk=study_id).first()
    if study is None:
        return {"frames": 0, "thumbnails": 0, "failed": 0}
    report = frames.study_prerender(study=study)
    return {"frames": report.frames, "thumbnails": report.thumbnails, "failed": report.failed}


def prerender_after_ingest(study_id: int) -> None:
    """Registered with studies: once new images are committed, pre-render the default view so
    that a recipient's first image is already cached (a Celery worker, or inline when eager).
    Best effort: with the broker down the upload still succeeds, and each frame is rendered
    (and cached) on its first view instead."""
    enqueue_quietly(prerender_study, (study_id,))


@shared_task
def prune_frame_cache() -> dict[str, int]:
    """Keep the rendered-frame file cache within FRAME_CACHE_MAX_BYTES (hourly, from beat)."""
    cache = framecache.frame_cache()
    if not isinstance(cache, framecache.FileFrameCache):
        return {}  # a Django cache backend expires entries by itself
    report = cache.prune(max_bytes=settings.FRAME_CACHE_MAX_BYTES)
    return {"files": report.files, "removed_files": report.removed_files}
