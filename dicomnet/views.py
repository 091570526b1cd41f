"""The "Send to PACS" action on the study page and on the worklist's selection, and the pages
that show how the sends went."""

import uuid

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from studies.models import Study
from worklists.access import get_worklist_for_user

from . import services
from .models import RemoteNode
from .selectors import remote_nodes_for_organisation, send_panel, send_studies, worklist_sends

NEED = "send_to_dicom_node"


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


@require_http_methods(["GET", "POST"])
@login_required
def worklist_send(request: HttpRequest, worklist_id: uuid.UUID) -> HttpResponse:
    """The worklist's "Send to PACS…": a GET (?study=...&study=...) lists the selected studies
    and asks for the node; its POST queues one send per study and shows how they go."""
    worklist = get_worklist_for_user(request.user, worklist_id, need=NEED)
    chosen = request.POST if request.method == "POST" else request.GET
    context: dict[str, object] = {"worklist": worklist}
    try:
        studies = send_studies(worklist=worklist, study_ids=chosen.getlist("study"))
        if not studies:
            raise ValidationError("Select at least one study on the worklist first.")
    except ValidationError as error:
        context["problem"] = " ".join(error.messages)
        return render(request, "dicomnet/worklist_send.html", context, status=400)
    nodes = remote_nodes_for_organisation(worklist.organisation_id)
    context.update(studies=studies, nodes=nodes, max_studies=services.MAX_SEND_STUDIES)
    if request.method == "GET":
        return render(request, "dicomnet/worklist_send.html", context)
    if not chosen.get("node"):
        context["node_error"] = "Choose the DICOM node to send to."
        return render(request, "dicomnet/worklist_send.html", context, status=400)
    node = next((n for n in nodes if n.public_id == _uuid(chosen["node"])), None)
    if node is None:  # another organisation's, or none at all: as on the study page
        raise Http404("No such DICOM node.")
    sends = services.studies_send(
        actor=request.user, worklist=worklist, studies=studies, node=node, request=request
    )
    url = reverse("dicomnet:worklist_sends", args=[worklist.public_id])
    return redirect(f"{url}?{urlencode([('send', str(s.public_id)) for s in sends])}")


@require_GET
@login_required
def worklist_sends_view(request: HttpRequest, worklist_id: uuid.UUID) -> HttpResponse:
    """How the sends from this worklist went: those just queued (?send=...), or the latest."""
    worklist = get_worklist_for_user(request.user, worklist_id, need=NEED)
    try:
        sends = worklist_sends(worklist=worklist, send_ids=request.GET.getlist("send"))
    except ValidationError as error:
        context = {"worklist": worklist, "problem": " ".join(error.messages)}
        return render(request, "dicomnet/worklist_sends.html", context, status=400)
    context = {
        "worklist": worklist,
        "sends": sends,
        "chosen": bool(request.GET.getlist("send")),
        "active": any(send.is_active for send in sends),
        "poll_url": request.get_full_path(),
    }
    return render(request, "dicomnet/worklist_sends.html", context)
