"""A frame's stored values for windowing in the browser (`rendering.values`), through the same
access check, cache and validators as its rendered image.

`GET /dicomweb/studies/{study}/series/{series}/instances/{instance}/frames/{n}/values`
(`viewport=width,height` to fit a phone's screen): 200 with the gzip stream, 422 with the
reason when the image is not offered (the viewer then keeps the server's rendering).
"""

from __future__ import annotations

import logging

from django.http import HttpRequest, HttpResponse

from studies.models import Instance
from studies.rendering import RenderError, RenderParams, values

from . import frames
from .framecache import frame_cache
from .views import (
    PATIENT_DATA_CACHE_HEADERS,
    BadRequest,
    _text,
    conditional,
    dicomweb_resource,
    parse_viewport,
)

logger = logging.getLogger(__name__)


def _values(instance: Instance, params: RenderParams, key: str) -> bytes:
    cache = frame_cache()
    data = cache.get(key)
    if data is not None:
        return data
    refused = cache.get(frames.refusal_key(instance, params.frame))
    if refused is not None:  # the file cannot be rendered at all
        raise RenderError(refused.decode(errors="replace"))
    source = frames._source(instance)
    data = values.frame_values(source, params.frame, params.viewport, frames.limits())
    cache.set(key, data)
    return data


@dicomweb_resource
def frame_values(
    request: HttpRequest, study: str, series: str, instance: str, frame: int
) -> HttpResponse:
    obj = frames.get_instance_for_request(request, study, series, instance)
    if not 1 <= frame <= obj.number_of_frames:
        return _text(
            f"Frame {frame} does not exist; this instance has {obj.number_of_frames}.", 404
        )
    try:
        viewport = parse_viewport(request.GET.get("viewport"))
    except BadRequest as exc:
        return _text(str(exc), 400)
    params = RenderParams(frame=frame - 1, viewport=viewport, media_type=values.MEDIA_TYPE)
    key = frames.frame_key(obj, params)
    headers = {
        "ETag": frames.etag_for(key),
        "Vary": "Cookie",
        **PATIENT_DATA_CACHE_HEADERS,
    }
    not_modified = conditional(request, headers)
    if not_modified is not None:
        return not_modified
    try:
        data = _values(obj, params, key)
    except RenderError as exc:
        logger.info("Frame values not sent (instance %s, frame %s): %s", obj.pk, frame, exc.reason)
        return _text(exc.reason, 422)
    headers["Content-Encoding"] = "gzip"
    return HttpResponse(data, content_type=values.MEDIA_TYPE, headers=headers)
