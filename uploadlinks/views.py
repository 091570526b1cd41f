"""Upload links: the recipient's gate and upload page, and the clinician's list and forms."""

import json
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from links.gate import Outcome
from links.http import link_csrf_protect, link_page, too_many, unavailable
from worklists.access import get_worklist_for_user, worklist_permissions

from . import services
from .access import (
    get_session_upload,
    get_upload_session,
    get_uploadlink_for_user,
    upload_session_add,
    upload_session_start,
)
from .forms import GatePasswordForm, UploaderForm, UploadLinkEditForm, UploadLinkForm
from .models import Upload, UploadedStudy
from .selectors import worklist_upload_links

# --- the recipient's side ----------------------------------------------------------------


def _render_gate(
    request: HttpRequest, link: Any, *, error: str = "", status: int = 200
) -> HttpResponse:
    form = GatePasswordForm() if link.has_password else None
    return render(
        request,
        "uploadlinks/gate.html",
        {"link": link, "form": form, "error": error},
        status=status,
    )


@link_page
@link_csrf_protect
@require_http_methods(["GET", "HEAD", "POST"])
def gate(request: HttpRequest, token: str) -> HttpResponse:
    """GET/HEAD only show the link; a POST (password or "Continue") opens the upload page."""
    link = services.uploadlink_find(token)
    if request.method != "POST":
        if link is None or not link.is_usable:
            return unavailable(request)
        return _render_gate(request, link)
    result = services.uploadlink_open(
        link=link, token=token, password=request.POST.get("password", ""), request=request
    )
    if result.outcome == Outcome.OPENED and result.link is not None:
        upload_session_start(request, link=result.link)
        see_other = HttpResponseRedirect(reverse("uploadlinks:upload"))
        see_other.status_code = 303
        return see_other
    if result.outcome == Outcome.RATE_LIMITED:
        return too_many(request, result.retry_after)
    if result.outcome == Outcome.WRONG_PASSWORD and result.link and result.attempts_left:
        left = result.attempts_left
        return _render_gate(
            request,
            result.link,
            error=f"That password is not right. {left} attempt{'s' if left != 1 else ''} left.",
            status=403,
        )
    return unavailable(request)


@link_page
@require_GET
def upload_page(request: HttpRequest) -> HttpResponse:
    session = get_upload_session(request)
    if session is None:
        return unavailable(request)
    return render(
        request,
        "uploadlinks/upload.html",
        {
            "link": session.link,
            "form": UploaderForm(),
            "chunk_bytes": settings.UPLOADLINK_CHUNK_BYTES,
            "max_files": settings.UPLOADLINK_MAX_UPLOAD_FILES,
            "max_bytes": settings.UPLOADLINK_MAX_UPLOAD_BYTES,
        },
    )


def _refused(error: services.UploadRefused) -> JsonResponse:
    response = JsonResponse({"error": error.message}, status=error.status)
    if error.retry_after:
        response["Retry-After"] = str(error.retry_after)
    return response


@link_page
@link_csrf_protect
@require_POST
def upload_start(request: HttpRequest) -> HttpResponse:
    """Announce an upload: JSON {"files": [{"name": ..., "size": ...}, ...]}."""
    session = get_upload_session(request)
    if session is None:
        return JsonResponse({"error": "This link is no longer available."}, status=404)
    try:
        body = json.loads(request.body or b"{}")
        files = [(str(item["name"]), int(item["size"])) for item in body["files"]]
    except (ValueError, KeyError, TypeError):
        return JsonResponse({"error": "The list of files could not be read."}, status=400)
    try:
        upload = services.upload_start(link=session.link, files=files, request=request)
    except services.UploadRefused as error:
        return _refused(error)
    upload_session_add(request, upload)
    return JsonResponse(
        {
            "upload": str(upload.public_id),
            "chunk_bytes": settings.UPLOADLINK_CHUNK_BYTES,
            "files": [
                {
                    "index": index,
                    "url": reverse("uploadlinks:chunk", args=[upload.public_id, index]),
                }
                for index in range(len(files))
            ],
            "finish": reverse("uploadlinks:finish", args=[upload.public_id]),
        },
        status=201,
    )


@link_page
@link_csrf_protect
@require_http_methods(["GET", "POST"])
def upload_chunk(request: HttpRequest, public_id: str, index: int) -> HttpResponse:
    """GET: how many bytes of the file have arrived (to resume). POST ?offset=N with the raw
    bytes of one chunk as the body."""
    upload = get_session_upload(request, public_id)
    staged = upload.files.filter(index=index).first()
    if staged is None:
        return JsonResponse({"error": "No such file in this upload."}, status=404)
    if request.method == "GET":
        return JsonResponse({"received": staged.received, "size": staged.size})
    try:
        offset = int(request.GET.get("offset", ""))
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return JsonResponse({"error": "Say where the chunk goes (?offset=)."}, status=400)
    try:
        staged = services.upload_receive(
            upload=upload, index=index, offset=offset, stream=request, length=length
        )
    except services.UploadRefused as error:
        staged.refresh_from_db()
        response = _refused(error)
        response.content = json.dumps({"error": error.message, "received": staged.received})
        return response
    return JsonResponse({"received": staged.received, "size": staged.size})


@link_page
@link_csrf_protect
@require_POST
def upload_finish(request: HttpRequest, public_id: str) -> HttpResponse:
    """Complete an upload: the uploader's details (a form post); the summary as HTML."""
    upload = get_session_upload(request, public_id, live=False)
    form = UploaderForm(request.POST)
    if not form.is_valid():
        errors = "; ".join(
            f"{form.fields[name].label}: {' '.join(str(error) for error in field_errors)}"
            for name, field_errors in form.errors.items()
        )
        return JsonResponse({"error": errors}, status=400)
    try:
        upload = services.upload_complete(
            upload=upload,
            uploader_name=form.cleaned_data["name"],
            uploader_email=form.cleaned_data["email"],
            note=form.cleaned_data["note"],
            request=request,
        )
    except services.UploadRefused as error:
        return _refused(error)
    return _summary(request, upload)


def _summary(request: HttpRequest, upload: Upload, *, partial: bool = True) -> HttpResponse:
    studies = (
        UploadedStudy.objects.filter(upload=upload)
        .select_related("study")
        .order_by("study__study_date", "pk")
    )
    return render(
        request,
        "uploadlinks/_summary.html" if partial else "uploadlinks/summary.html",
        {"upload": upload, "studies": studies, "link": upload.link},
    )


@link_page
@require_GET
def upload_summary(request: HttpRequest, public_id: str) -> HttpResponse:
    upload = get_session_upload(request, public_id, live=False)
    return _summary(request, upload, partial=False)


# --- the clinician's side ----------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@login_required
def manage(request: HttpRequest, worklist_id: str) -> HttpResponse:
    """The worklist's upload links, and the form to create one."""
    worklist = get_worklist_for_user(request.user, worklist_id, need="view_studies")
    can_manage = "manage_upload_links" in worklist_permissions(request.user, worklist)
    if not can_manage:
        raise PermissionDenied("Your role on this worklist does not allow managing upload links.")
    form = UploadLinkForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                link = services.uploadlink_create(
                    actor=request.user, worklist=worklist, request=request, **form.service_options()
                )
            except ValidationError as error:
                for field, field_errors in error.message_dict.items():
                    form.add_error(field if field in form.fields else None, field_errors)
            else:
                messages.success(request, "Upload link created. Copy it from the list below.")
                return redirect(
                    reverse("uploadlinks:manage", args=[worklist.public_id])
                    + f"#link-{link.public_id}"
                )
        status = 400
    response = render(
        request,
        "uploadlinks/manage.html",
        {
            "worklist": worklist,
            "form": form,
            "links": worklist_upload_links(worklist=worklist),
        },
        status=status,
    )
    response["Cache-Control"] = "no-store"  # it may hold a typed password
    return response


@require_http_methods(["GET", "POST"])
@login_required
def edit(request: HttpRequest, public_id: str) -> HttpResponse:
    link = get_uploadlink_for_user(request.user, public_id)
    worklist = get_worklist_for_user(request.user, link.worklist.public_id, need="view_studies")
    if not services.uploadlink_can_manage(user=request.user, worklist=worklist):
        raise PermissionDenied("Your role on this worklist does not allow managing upload links.")
    form = UploadLinkEditForm.for_link(link, request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                services.uploadlink_update(
                    actor=request.user, link=link, request=request, **form.changes()
                )
            except ValidationError as error:
                if hasattr(error, "error_dict"):
                    for field, field_errors in error.message_dict.items():
                        target = "expires_in" if field == "expires_at" else field
                        form.add_error(target if target in form.fields else None, field_errors)
                else:
                    form.add_error(None, error.messages)
            else:
                messages.success(request, "Upload link saved.")
                return redirect(
                    reverse("uploadlinks:manage", args=[worklist.public_id])
                    + f"#link-{link.public_id}"
                )
        status = 400
    response = render(
        request,
        "uploadlinks/edit.html",
        {"worklist": worklist, "link": link, "form": form},
        status=status,
    )
    response["Cache-Control"] = "no-store"
    return response


@require_POST
@login_required
def delete(request: HttpRequest, public_id: str) -> HttpResponse:
    link = get_uploadlink_for_user(request.user, public_id)
    services.uploadlink_delete(actor=request.user, link=link, request=request)
    messages.success(
        request, "Upload link deleted: it no longer opens, also for an upload page open now."
    )
    return redirect("uploadlinks:manage", worklist_id=link.worklist.public_id)
