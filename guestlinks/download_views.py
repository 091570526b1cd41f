"""A guest's downloads (downloads.py): the study as a zip with a DICOMDIR, one image as PNG.

Both are POSTs from the guest viewer (CSRF-checked like every form behind the gate), for a
study of the request's live guest session, on a link with `allow_download`; anything else is
the one "unavailable" page (404), whatever the reason."""

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.views.decorators.http import require_POST

from dicomweb import frames
from dicomweb.views import BadRequest, parse_window
from links.http import link_csrf_protect, link_page, unavailable
from studies.models import Instance, Study
from studies.rendering import PNG, RenderError, RenderParams

from . import downloads, services
from .access import GuestSession, get_guest_session


def _guest_study(request: HttpRequest) -> tuple[GuestSession, Study] | None:
    guest = get_guest_session(request)
    if guest is None or not guest.link.allow_download:
        return None
    study = Study.objects.filter(
        study_instance_uid=request.POST.get("study", "")[:64], pk__in=guest.study_ids
    ).first()
    return (guest, study) if study is not None else None


def _attachment(response: HttpResponse | StreamingHttpResponse, filename: str) -> None:
    response["Content-Disposition"] = f'attachment; filename="{filename}"'


def _name(study: Study) -> str:
    return f"study-{study.study_date:%Y%m%d}" if study.study_date else "study"


@link_page
@link_csrf_protect
@require_POST
def download_study(request: HttpRequest) -> HttpResponse:
    found = _guest_study(request)
    if found is None:
        return unavailable(request)
    guest, study = found
    dicomdir, members = downloads.study_layout(study)
    if not members:
        return unavailable(request)
    services.guestlink_download_record(
        link=guest.link, study=study, request=request, what="study", files=len(members)
    )
    response = StreamingHttpResponse(
        downloads.study_zip(dicomdir, members), content_type="application/zip"
    )
    _attachment(response, f"{_name(study)}.zip")
    return response  # type: ignore[return-value]  # a streamed HttpResponseBase


@link_page
@link_csrf_protect
@require_POST
def download_image(request: HttpRequest) -> HttpResponse:
    found = _guest_study(request)
    if found is None:
        return unavailable(request)
    guest, study = found
    instance = Instance.objects.filter(
        series__study=study,
        series__series_instance_uid=request.POST.get("series", "")[:64],
        sop_instance_uid=request.POST.get("instance", "")[:64],
    ).first()
    if instance is None:
        return unavailable(request)
    try:
        frame = int(request.POST.get("frame", "1"))
        window = parse_window(request.POST.get("window") or None)
    except (ValueError, BadRequest) as exc:
        return HttpResponse(f"{exc}", status=400, content_type="text/plain; charset=utf-8")
    if not 1 <= frame <= instance.number_of_frames:
        return HttpResponse("No such frame.", status=400, content_type="text/plain")
    params = RenderParams(
        frame=frame - 1, window=window, viewport=frames.default_viewport(instance), media_type=PNG
    )
    try:
        data = frames.rendered_frame(instance, params)
    except frames.RenderBusy as exc:
        return HttpResponse(exc.reason, status=503, headers={"Retry-After": "5"})
    except RenderError as exc:
        return HttpResponse(exc.reason, status=422, content_type="text/plain; charset=utf-8")
    services.guestlink_download_record(
        link=guest.link,
        study=study,
        request=request,
        what="image",
        instance=instance.sop_instance_uid,
        frame=frame,
    )
    response = HttpResponse(data, content_type=PNG)
    number = instance.instance_number if instance.instance_number is not None else 1
    _attachment(response, f"{_name(study)}-image-{number}-{frame}.png")
    return response
