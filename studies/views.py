from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, TooManyFilesSent
from django.core.files.uploadhandler import TemporaryFileUploadHandler
from django.core.paginator import Paginator
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_http_methods

from audit.models import AuditEvent
from audit.services import record_event
from worklists.access import get_worklist_for_user, worklist_permissions
from worklists.models import Worklist

from .access import get_study_for_user
from .forms import StudyUploadForm
from .registry import study_panels
from .selectors import (
    ACCESS_HISTORY_PAGE,
    ACCESS_HISTORY_PANEL,
    study_access_history,
    study_entry_note,
    study_priors,
    study_series,
)
from .services import IngestReport, study_ingest


def open_study(request: HttpRequest, public_id: str, **details: str):  # type: ignore[no-untyped-def]
    """The study, its worklists and the worklist the user came from (`?worklist=`, when they
    may see the study there; else the first), recording the "study opened" audit event."""
    study, worklists = get_study_for_user(request.user, public_id)
    worklist = _came_from(request, worklists)
    with transaction.atomic():
        record_event(
            action=AuditEvent.Action.STUDY_OPENED,
            actor=request.user,
            request=request,
            study_instance_uid=study.study_instance_uid,
            details=details,
        )
    return study, worklists, worklist


def _came_from(request: HttpRequest, worklists: list[Worklist]) -> Worklist:
    wanted = request.GET.get("worklist", "")
    return next((w for w in worklists if str(w.public_id) == wanted), worklists[0])


def _access_history(user: Any, study: Any, worklist: Worklist) -> list[Any] | None:
    """The newest events of the study's access history, for those who may view its guest
    links in this worklist (one more row tells that there are more); None for anyone else."""
    if "view_guest_links" not in worklist_permissions(user, worklist):
        return None
    return list(study_access_history(study=study, worklist=worklist)[: ACCESS_HISTORY_PANEL + 1])


@require_GET
@login_required
def study_detail(request: HttpRequest, public_id: str) -> HttpResponse:
    study, worklists, worklist = open_study(request, public_id)
    history = _access_history(request.user, study, worklist)
    return render(
        request,
        "studies/study.html",
        {
            "study": study,
            "worklist": worklist,
            "study_worklists": worklists,
            "series_list": study_series(study),
            "entry_note": study_entry_note(study=study, worklist=worklist),
            "priors": study_priors(study=study, worklists=[worklist]),
            "perms_here": worklist_permissions(request.user, worklist),
            # The sharing and guest-link panels, from the apps that register them.
            **study_panels(user=request.user, study=study, worklist=worklist, worklists=worklists),
            # A panel to open on arrival (the worklist's study-link icon asks for "guest-links").
            "open_panel": request.GET.get("panel", ""),
            "access_history": history[:ACCESS_HISTORY_PANEL] if history is not None else None,
            "access_history_more": history is not None and len(history) > ACCESS_HISTORY_PANEL,
        },
    )


@require_GET
@login_required
def study_access_history_page(request: HttpRequest, public_id: str) -> HttpResponse:
    """The study's whole access history in this worklist, a page at a time (view guest links
    there, else 403; a study the user cannot see: 404)."""
    study, worklists = get_study_for_user(request.user, public_id)
    worklist = _came_from(request, worklists)
    if "view_guest_links" not in worklist_permissions(request.user, worklist):
        raise PermissionDenied("Your role does not allow viewing this study's access history.")
    events = Paginator(study_access_history(study=study, worklist=worklist), ACCESS_HISTORY_PAGE)
    return render(
        request,
        "studies/access_history.html",
        {"study": study, "worklist": worklist, "page": events.get_page(request.GET.get("page"))},
    )


# CSRF is checked inside, by _study_upload: Django's middleware would read the POST body first
# and answer a request over DATA_UPLOAD_MAX_NUMBER_FILES with a bare 400 instead of the message.
@csrf_exempt
@require_http_methods(["GET", "POST"])
@login_required
def study_upload(request: HttpRequest, worklist_public_id: str) -> HttpResponse:
    worklist = get_worklist_for_user(request.user, worklist_public_id, need="upload_studies")
    request.upload_handlers = [TemporaryFileUploadHandler(request)]  # every file streams to disk
    try:
        return _study_upload(request, worklist)
    except TooManyFilesSent:
        limit = settings.DATA_UPLOAD_MAX_NUMBER_FILES
        error = (
            f"That is more files than one upload may hold ({limit}). "
            "Put them in a zip archive, or upload them in parts."
        )
        return _upload_page(request, worklist, StudyUploadForm(), error=error, status=413)


@csrf_protect
def _study_upload(request: HttpRequest, worklist: Worklist) -> HttpResponse:
    if request.method != "POST":
        return _upload_page(request, worklist, StudyUploadForm())
    form = StudyUploadForm(request.POST, request.FILES)
    if not form.is_valid():
        return _upload_page(request, worklist, form, status=400)
    report = study_ingest(
        actor=request.user, worklist=worklist, files=form.uploads(), request=request
    )
    return _upload_page(request, worklist, StudyUploadForm(), report=report)


def _upload_page(
    request: HttpRequest,
    worklist: Worklist,
    form: StudyUploadForm,
    *,
    report: IngestReport | None = None,
    error: str = "",
    status: int = 200,
) -> HttpResponse:
    """The whole page, or only the result panel for the page's own script (upload.js)."""
    partial = request.headers.get("X-Requested-With") == "XMLHttpRequest"
    response = render(
        request,
        "studies/_upload_result.html" if partial else "studies/upload.html",
        {
            "worklist": worklist,
            "form": form,
            "report": report,
            "error": error,
            "max_files": settings.DATA_UPLOAD_MAX_NUMBER_FILES,
            "partial": partial,
        },
        status=status,
    )
    response["X-Upload-Result"] = "1"
    patch_vary_headers(response, ["X-Requested-With"])
    return response


@require_GET
@login_required
def study_viewer(request: HttpRequest, public_id: str) -> HttpResponse:
    """The viewer on a study, with its priors from the worklist the user came from."""
    from .viewer import render_viewer

    study, _, worklist = open_study(request, public_id, view="viewer")
    back = reverse("studies:detail", args=[study.public_id]) + f"?worklist={worklist.public_id}"
    priors = study_priors(study=study, worklists=[worklist])
    return render_viewer(request, study, guest=False, priors=priors, back_url=back)
