"""The "Send to PACS" action on the study page, and its panel for polling."""

import uuid

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from studies.models import Study
from worklists.access import get_worklist_for_user

from . import services
from .models import RemoteNode
from .selectors import send_panel


def _uuid(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise Http404("Not found.") from None


def _study(public_id: str) -> Study:
    study = Study.objects.filter(public_id=public_id).first()
    if study is None:
        raise Http404("No such study.")
    return study


@require_POST
@login_required
def study_send(request: HttpRequest, public_id: str) -> HttpResponse:
    study = _study(public_id)
    worklist = get_worklist_for_user(request.user, _uuid(request.POST.get("worklist", "")))
    node = RemoteNode.objects.filter(
        public_id=_uuid(request.POST.get("node", "")), organisation=worklist.organisation
    ).first()
    if node is None:
        raise Http404("No such DICOM node.")
    services.study_send(
        actor=request.user, study=study, worklist=worklist, node=node, request=request
    )
    url = reverse("studies:detail", args=[study.public_id])
    return redirect(f"{url}?worklist={worklist.public_id}#dicom-send")


@require_GET
@login_required
def send_panel_view(request: HttpRequest, public_id: str) -> HttpResponse:
    study = _study(public_id)
    worklist = get_worklist_for_user(request.user, _uuid(request.GET.get("worklist", "")))
    panel = send_panel(user=request.user, study=study, worklist=worklist)
    if panel is None or not services.study_in_worklist(study, worklist):
        raise Http404("No such study.")
    return render(request, "dicomnet/_send_panel.html", {"panel": panel})
