from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, TooManyFilesSent
from django.core.files.uploadhandler import TemporaryFileUploadHandler
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_http_methods

from audit.models import AuditEvent
from audit.services import record_event
from guestlinks.selectors import guestlinks_panel
from sharing.selectors import study_sharing
from worklists.access import get_worklist_for_user
from worklists.models import Membership, Worklist
from worklists.selectors import worklist_permissions, worklists_for_user

from .forms import StudyUploadForm
from .models import Study
from .panels import study_panels
from .selectors import study_priors, study_series
from .services import IngestReport, study_ingest


def get_study_for_user(user, public_id):  # type: ignore[no-untyped-def]
    """The study and the worklists in which this user may see it; 404 when there are none."""
    study = Study.objects.filter(public_id=public_id).first()
    if study is None:
        raise Http404("No such study.")
    worklists = list(
        worklists_for_user(user, "view_studies")
        .filter(entries__study=study)
        .select_related("organisation")
        .order_by("kind", "name")
    )
    if not worklists:
        if Membership.objects.filter(user=user, worklist__entries__study=study).exists():
            raise PermissionDenied("Your role does not allow viewing studies in this worklist.")
        raise Http404("No such study.")
    return study, worklists


def open_study(request: HttpRequest, public_id: str, **details: str):  # type: ignore[no-untyped-def]
    """The study, its worklists and the worklist the user came from (`?worklist=`, when they
    may see the study there; else the first), recording the "study opened" audit event."""
    study, worklists = get_study_for_user(request.user, public_id)
    wanted = request.GET.get("worklist", "")
    worklist = next((w for w in worklists if str(w.public_id) == wanted), worklists[0])
    with transaction.atomic():
        record_event(
            action=AuditEvent.Action.STUDY_OPENED,
            actor=request.user,
            request=request,
            study_instance_uid=study.study_instance_uid,
            details=details,
        )
    return study, worklists, worklist


@require_GET
@login_required
def study_detail(request: HttpRequest, public_id: str) -> HttpResponse:
    study, worklists, worklist = open_study(request, public_id)
    return render(
        request,
        "studies/study.html",
        {
            "study": study,
            "worklist": worklist,
            "study_worklists": worklists,
            "series_list": study_series(study),
            "priors": study_priors(study=study, worklists=[worklist]),
            "perms_here": worklist_permissions(request.user, worklist),
            "sharing": study_sharing(user=request.user, study=study, worklists=worklists),
            "guestlinks_panel": guestlinks_panel(user=request.user, study=study, worklist=worklist),
            "extra_panels": study_panels(request, study, worklist),
            # A panel to open on arrival (the worklist's study-link icon asks for "guest-links").
            "open_panel": request.GET.get("panel", ""),
        },
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
