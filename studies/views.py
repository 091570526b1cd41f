from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from audit.models import AuditEvent
from audit.services import record_event
from guestlinks.selectors import guestlinks_panel
from worklists.selectors import worklist_permissions, worklists_for_user

from .models import Study
from .selectors import study_priors, study_series


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
        raise Http404("No such study.")
    return study, worklists


@require_GET
@login_required
def study_detail(request: HttpRequest, public_id: str) -> HttpResponse:
    study, worklists = get_study_for_user(request.user, public_id)
    # The worklist the user came from, when they may see the study there; else the first.
    wanted = request.GET.get("worklist", "")
    worklist = next((w for w in worklists if str(w.public_id) == wanted), worklists[0])
    with transaction.atomic():
        record_event(
            action=AuditEvent.Action.STUDY_OPENED,
            actor=request.user,
            request=request,
            study_instance_uid=study.study_instance_uid,
        )
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
            "guestlinks_panel": guestlinks_panel(user=request.user, study=study, worklist=worklist),
        },
    )
