"""DICOMweb retrieve-rendered (PS3.18 10.4) and thumbnails (metadata: `wado`).

Every request re-checks access (a clinician with "view and search" on a worklist holding the
study, or a guest session granted it) in one query, then answers from the rendered-frame cache
or renders. Responses carry a strong ETag; `If-None-Match` gets a 304 without touching the
file or the cache.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.utils.cache import add_never_cache_headers, get_conditional_response
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_safe

from accounts.referrer import send_no_referrer
from studies.models import Instance
from studies.rendering import JPEG, PNG, WEBP, RenderError, RenderParams, Window

from . import auditing, frames

logger = logging.getLogger(__name__)

PREFERENCE = (PNG, JPEG, WEBP)
FUNCTION_NAMES = {
    "linear": "LINEAR",
    "linear-exact": "LINEAR_EXACT",
    "linear_exact": "LINEAR_EXACT",
    "sigmoid": "SIGMOID",
}
MAX_VIEWPORT = 8192
DICOM_JSON = "application/dicom+json"


class BadRequest(Exception):
    pass


class NotAcceptable(Exception):
    pass


def _text(message: str, status: int) -> HttpResponse:
    return HttpResponse(message + "\n", status=status, content_type="text/plain; charset=utf-8")


# --- Parameters -------------------------------------------------------------------------------


def negotiate(request: HttpRequest, default: str, supported: tuple[str, ...] = PREFERENCE) -> str:
    """The media type to answer with (Django's `get_preferred_type` over the Accept header, or
    the `accept` query parameter for <img> tags, which cannot set headers): the highest q, the
    default winning whatever it ties with. An empty Accept means the default; nothing
    acceptable raises NotAcceptable."""
    accept = _accept(request)
    if not accept.strip():
        return default
    probe = HttpRequest()
    probe.META["HTTP_ACCEPT"] = accept
    best = probe.get_preferred_type((default, *(m for m in supported if m != default)))
    if best is None:
        raise NotAcceptable(
            f"None of the requested media types ({accept}) can be produced; "
            f"this resource is available as {', '.join(supported)}."
        )
    wanted, chosen = probe.accepted_type(default), probe.accepted_type(best)
    if best != default and wanted and chosen and wanted.quality >= chosen.quality:
        return default  # e.g. a browser's "image/webp,...,image/*": lossless PNG, not WebP
    return best


def _numbers(value: str, name: str, count: tuple[int, ...]) -> list[str]:
    parts = [p.strip() for p in value.split(",")]
    if len(parts) not in count or any(p == "" for p in parts):
        raise BadRequest(
            f"{name} must be {' or '.join(str(c) for c in count)} comma-separated values."
        )
    return parts


def parse_window(value: str | None) -> Window | None:
    if value is None:
        return None
    parts = _numbers(value, "window", (2, 3))
    try:
        center, width = float(parts[0]), float(parts[1])
    except ValueError:
        raise BadRequest(
            "window must be centre,width[,function] with numbers for centre and width."
        ) from None
    function = FUNCTION_NAMES.get(parts[2].lower()) if len(parts) == 3 else "LINEAR"
    if function is None:
        raise BadRequest("The window function must be linear, linear-exact or sigmoid.")
    try:
        return Window(center, width, function)
    except ValueError as exc:
        raise BadRequest(str(exc)) from None


def parse_viewport(value: str | None) -> tuple[int, int] | None:
    if value is None:
        return None
    parts = _numbers(value, "viewport", (2, 6))
    if len(parts) == 6:
        raise BadRequest(
            "viewport cropping (sx,sy,sw,sh) is not supported; give viewport=width,height."
        )
    try:
        width, height = int(parts[0]), int(parts[1])
    except ValueError:
        raise BadRequest("viewport must be width,height in whole pixels.") from None
    if not (1 <= width <= MAX_VIEWPORT and 1 <= height <= MAX_VIEWPORT):
        raise BadRequest(f"viewport width and height must be between 1 and {MAX_VIEWPORT}.")
    return width, height


def parse_quality(value: str | None, default: int) -> int:
    if value is None:
        return default
    try:
        quality = int(value)
    except ValueError:
        raise BadRequest("quality must be a whole number from 1 to 100.") from None
    if not 1 <= quality <= 100:
        raise BadRequest("quality must be a whole number from 1 to 100.")
    return quality


def _accept(request: HttpRequest) -> str:
    """The `accept` query parameter (for <img> tags, which cannot set headers) wins."""
    values = request.GET.getlist("accept")
    return ",".join(values) if values else request.headers.get("Accept", "")


def render_params(
    request: HttpRequest, instance: Instance, frame: int, *, thumbnail: bool
) -> RenderParams:
    base = frames.thumbnail_params() if thumbnail else frames.default_params(instance, frame)
    media_type = negotiate(request, base.media_type)
    viewport = parse_viewport(request.GET.get("viewport"))
    return RenderParams(
        frame=frame,
        window=parse_window(request.GET.get("window")),
        viewport=viewport or base.viewport,
        media_type=media_type,
        quality=parse_quality(request.GET.get("quality"), base.quality)
        if media_type != PNG
        else base.quality,
    )


# --- Responses --------------------------------------------------------------------------------


def conditional(request: HttpRequest, headers: dict[str, str]) -> HttpResponse | None:
    """A 304 carrying `headers` when the request's If-None-Match matches their ETag (Django's
    `get_conditional_response`); None when the full response must be sent."""
    response = get_conditional_response(request, etag=headers["ETag"], response=HttpResponse())
    if response is None or response.status_code != 304:
        return None
    for name, value in headers.items():
        response[name] = value
    return response


SESSION_ENDED = "Your session has ended: open your link again, or sign in."


def _session_ended(ended: frames.SessionEnded) -> HttpResponse:
    """A small JSON answer the viewer understands (it stops and says why), never stored:
    410 for a guest whose link was deleted, locked or expired, 403 for anyone else without a
    session."""
    if ended.link_message:
        body, status = {"error": "link_unavailable", "message": ended.link_message}, 410
    else:
        body, status = {"error": "session_ended", "message": SESSION_ENDED}, 403
    response = JsonResponse(body, status=status)
    add_never_cache_headers(response)
    return response


def dicomweb_resource(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """GET and HEAD only (405 otherwise). They change nothing, so no CSRF check is needed, and
    without it a POST gets its 405 instead of a 403 from the CSRF middleware. A guest (no one
    signed in) gets no referrer, as on every guest page. A refused image is audited."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            response = view(request, *args, **kwargs)
        except frames.SessionEnded as ended:
            response = _session_ended(ended)
        except Http404:
            # An image of a study the caller may not see: the same 404 as one that does not
            # exist, recorded as refused (a viewer's own images are "images viewed").
            auditing.record(
                request,
                kind=auditing.FRAMES,
                resource=view.__name__,
                share_code=None,
                kwargs=kwargs,
                status=404,
                denied=True,
            )
            raise
        if not getattr(request.user, "is_authenticated", False):
            send_no_referrer(response)
        return response

    return csrf_exempt(require_safe(wrapped))


# Images and metadata carry patient data: never stored on the device, for a clinician (a
# shared workstation's disk cache) and for a guest (a phone that may change hands) alike
# (issue 15). The viewer keeps what it loaded decoded in memory while it is open, so scrolling
# back and forth within a series does not fetch again. Frames keep their ETag, so a client that
# holds a frame itself (a DICOMweb viewer's own cache) still gets a 304 from If-None-Match,
# after its session or token is checked, as on every request.
PATIENT_DATA_CACHE_HEADERS = {"Cache-Control": "private, no-store"}


def _rendered(
    request: HttpRequest, instance: Instance, frame: int, *, thumbnail: bool
) -> HttpResponse:
    if not 1 <= frame <= instance.number_of_frames:
        return _text(
            f"Frame {frame} does not exist; this instance has {instance.number_of_frames}.", 404
        )
    try:
        params = render_params(request, instance, frame - 1, thumbnail=thumbnail)
    except BadRequest as exc:
        return _text(str(exc), 400)
    except NotAcceptable as exc:
        return _text(str(exc), 406)
    key = frames.frame_key(instance, params)
    etag = frames.etag_for(key)
    headers = {"ETag": etag, "Vary": "Accept, Cookie", **PATIENT_DATA_CACHE_HEADERS}
    not_modified = conditional(request, headers)
    if not_modified is not None:
        return not_modified
    try:
        data = frames.rendered_frame(instance, params, key)
    except frames.RenderBusy as exc:
        response = _text(exc.reason, 503)
        response["Retry-After"] = "5"
        return response
    except RenderError as exc:
        logger.info(
            "Frame not rendered (instance %s, frame %s): %s", instance.pk, frame, exc.reason
        )
        return _text(exc.reason, 422)
    return HttpResponse(data, content_type=params.media_type, headers=headers)


@dicomweb_resource
def frame_rendered(
    request: HttpRequest, study: str, series: str, instance: str, frame: int
) -> HttpResponse:
    obj = frames.get_instance_for_request(request, study, series, instance)
    frames.record_viewed(request, study, series)
    return _rendered(request, obj, frame, thumbnail=False)


@dicomweb_resource
def instance_rendered(request: HttpRequest, study: str, series: str, instance: str) -> HttpResponse:
    obj = frames.get_instance_for_request(request, study, series, instance)
    frames.record_viewed(request, study, series)
    return _rendered(request, obj, 1, thumbnail=False)


@dicomweb_resource
def frame_thumbnail(
    request: HttpRequest, study: str, series: str, instance: str, frame: int
) -> HttpResponse:
    obj = frames.get_instance_for_request(request, study, series, instance)
    return _rendered(request, obj, frame, thumbnail=True)


@dicomweb_resource
def instance_thumbnail(
    request: HttpRequest, study: str, series: str, instance: str
) -> HttpResponse:
    obj = frames.get_instance_for_request(request, study, series, instance)
    return _rendered(request, obj, 1, thumbnail=True)


@dicomweb_resource
def series_thumbnail(request: HttpRequest, study: str, series: str) -> HttpResponse:
    obj = frames.get_series_for_request(request, study, series)
    return _rendered(request, frames.first_instance(obj), 1, thumbnail=True)
