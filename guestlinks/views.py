"""Guest links: the clinician's create/delete endpoints, the guest gate and the guest viewer."""

import zoneinfo
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.utils.formats import date_format
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from links.http import link_csrf_protect, link_page, too_many, unavailable
from studies.access import get_worklist_study_for_user
from studies.models import Study
from studies.viewer import render_viewer
from worklists.access import get_worklist_for_user

from . import code_views, onetimecode, services
from .access import (
    get_guest_session,
    get_guest_study,
    get_guestlink_for_user,
    get_link_studies,
    guest_session_end,
    guest_session_start,
)
from .edit_forms import AskNewLinkForm
from .forms import GatePasswordForm, GuestLinkForm
from .models import GuestLink, GuestLinkAccess
from .policy import link_organisation, policy_for, policy_limits
from .selectors import guestlink_find

Outcome = GuestLinkAccess.Outcome

# The headers and CSRF handling every page behind a link shares (links.http).
guest_page = link_page
guest_csrf_protect = link_csrf_protect


def _unavailable(request: HttpRequest) -> HttpResponse:
    """One page, one status for every link that cannot be opened, whatever the reason."""
    return unavailable(request)


def unusable_link_page(
    request: HttpRequest, token: str, *, form: Any = None, status: int = 404
) -> HttpResponse:
    """The gate's page for every link that cannot be opened, whatever the reason and whether
    the token matches a link at all, with "Ask for a new link" (posted beside the gate's own
    URL: nothing on it depends on the link)."""
    context = {
        "ask_form": form or AskNewLinkForm(),
        "ask_url": reverse("guestlinks:ask", args=[token]),
    }
    return render(request, "guestlinks/unavailable.html", context, status=status)


def _in_creator_zone(link: GuestLink) -> zoneinfo.ZoneInfo | None:
    organisation = link.created_by.organisation if link.created_by else None
    return zoneinfo.ZoneInfo(organisation.time_zone) if organisation else None


def _render_gate(
    request: HttpRequest,
    link: GuestLink,
    *,
    form: GatePasswordForm | None = None,
    error: str = "",
    status: int = 200,
) -> HttpResponse:
    zone = _in_creator_zone(link)
    with timezone.override(zone):  # None: the site's default zone
        response = render(
            request,
            "guestlinks/gate.html",
            {
                "link": link,
                "form": form or (GatePasswordForm() if link.has_password else None),
                "error": error,
                "time_zone": timezone.get_current_timezone_name(),
            },
            status=status,
        )
    return response


def _opened(request: HttpRequest, result: services.OpenResult) -> HttpResponse:
    """The link opened: a guest session, and the viewer."""
    assert result.link is not None
    guest_session_start(request, link=result.link, study_ids=set(result.study_ids))
    see_other = HttpResponseRedirect(
        reverse("guestlinks:viewer", args=[result.link.study.public_id])
    )
    see_other.status_code = 303  # See Other: the viewer is fetched with a GET
    return see_other


# --- the guest's side --------------------------------------------------------------------


@guest_page
@guest_csrf_protect
@require_http_methods(["GET", "HEAD", "POST"])
def gate(request: HttpRequest, token: str) -> HttpResponse:
    """GET/HEAD only show the link; a POST (password or "Open study") uses it."""
    link = guestlink_find(token)
    if request.method != "POST":
        if link is None or not link.is_usable:
            return unusable_link_page(request, token)
        if link.one_time_code and onetimecode.pending_code(request, link) is not None:
            return code_views.render_code_step(request, link)
        return _render_gate(request, link)
    if link is not None and link.one_time_code and code_views.is_code_step(request):
        return code_views.code_step(request, token, link, opened=_opened)
    result = services.guestlink_open(
        link=link, token=token, password=request.POST.get("password", ""), request=request
    )
    if result.outcome == Outcome.OPENED and result.link is not None:
        return _opened(request, result)
    if result.outcome == Outcome.CODE_SENT and result.code is not None:
        return code_views.code_sent(request, result.code)
    if result.outcome == Outcome.RATE_LIMITED:
        return too_many(request, result.retry_after)
    if result.outcome == Outcome.WRONG_PASSWORD and result.link and result.attempts_left:
        form = GatePasswordForm()
        left = result.attempts_left
        return _render_gate(
            request,
            result.link,
            form=form,
            error=f"That password is not right. {left} attempt{'s' if left != 1 else ''} left.",
            status=403,
        )
    return unusable_link_page(request, token)


@guest_page
@require_GET
def viewer(request: HttpRequest, public_id: str) -> HttpResponse:
    """The guest viewer: one study of the guest session (its link's study or a prior)."""
    guest = get_guest_session(request)
    if guest is None:
        return _unavailable(request)
    study = get_guest_study(guest, public_id)
    if study is None:
        return unavailable(request, {"not_shared": True})
    link = guest.link
    services.guestlink_record_view(link=link, study=study, request=request)
    others = Study.objects.filter(pk__in=guest.study_ids).exclude(pk=study.pk)
    creator = link.created_by
    with timezone.override(_in_creator_zone(link)):  # None: the site's default zone
        until = date_format(timezone.localtime(link.expires_at), "j F Y, H:i T")
    shared_by = creator.display_name if creator else "a clinician"
    if creator and creator.organisation:
        shared_by += f" ({creator.organisation.name})"
    return render_viewer(
        request,
        study,
        guest=True,
        priors=others.order_by("-study_date", "-id"),
        banner=f"Shared by {shared_by} · available until {until}",
        downloads=_downloads(link),
    )


def _downloads(link: GuestLink) -> dict[str, str] | None:
    """Where the viewer's "Download" menu posts, on links that allow downloads."""
    if not link.allow_download:
        return None
    return {
        "study": reverse("guestlinks:download_study"),
        "image": reverse("guestlinks:download_image"),
    }


@guest_page
@guest_csrf_protect
@require_POST
def end_session(request: HttpRequest) -> HttpResponse:
    guest_session_end(request)
    return render(request, "guestlinks/ended.html")


# --- the clinician's side ----------------------------------------------------------------


@require_POST
@login_required
def send_again(request: HttpRequest, public_id: str) -> HttpResponse:
    link = get_guestlink_for_user(request.user, public_id)
    try:
        services.guestlink_send_again(actor=request.user, link=link)
        messages.success(request, "The guest link is being sent again.")
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    return redirect(_study_page(link.study, link.worklist))


def _study_page(study: Study, worklist: Any) -> str:
    return (
        reverse("studies:detail", args=[study.public_id])
        + f"?worklist={worklist.public_id}#guest-links"
    )


@require_http_methods(["GET", "POST"])
@login_required
def create(request: HttpRequest, worklist_id: str, study_id: str) -> HttpResponse:
    """The panel's form posts here. A GET is the browser coming back to a form error's page
    (back, reload): the form lives in the study page's panel, so it goes there."""
    worklist, study = get_worklist_study_for_user(
        request.user, worklist_id, study_id, need="create_guest_links"
    )
    if request.method == "GET":
        return redirect(_study_page(study, worklist))
    policy = policy_for(link_organisation(worklist=worklist, actor=request.user))
    form = GuestLinkForm(request.POST, study=study, policy=policy)
    if form.is_valid():
        try:
            services.guestlink_create(
                actor=request.user,
                study=study,
                worklist=worklist,
                request=request,
                **form.service_options(),
            )
        except ValidationError as error:
            for field, field_errors in error.message_dict.items():
                form.add_error(field if field in form.fields else None, field_errors)
        else:
            messages.success(request, "Guest link created. Copy it from the list below.")
            return redirect(_study_page(study, worklist))
    context = {
        "form": form,
        "study": study,
        "worklist": worklist,
        "policy_limits": policy_limits(policy),
    }
    response = render(request, "guestlinks/create.html", context, status=400)
    add_never_cache_headers(response)  # it holds the typed password
    return response


@require_POST
@login_required
def delete(request: HttpRequest, public_id: str) -> HttpResponse:
    link = get_guestlink_for_user(request.user, public_id)
    services.guestlink_delete(actor=request.user, link=link, request=request)
    messages.success(
        request, "Guest link deleted: it no longer opens, also for anyone viewing it now."
    )
    return redirect(_study_page(link.study, link.worklist))


@require_http_methods(["GET", "POST"])
@login_required
def create_multi(request: HttpRequest, worklist_id: str) -> HttpResponse:
    """A link for the studies selected on the worklist (?study=...&study=..., all of one
    patient): a GET shows the form with the studies listed, its POST creates the link."""
    worklist = get_worklist_for_user(request.user, worklist_id, need="create_guest_links")
    chosen = request.POST if request.method == "POST" else request.GET
    try:
        studies = services.guestlink_studies_check(
            get_link_studies(worklist=worklist, study_ids=chosen.getlist("study"))
        )
    except ValidationError as error:
        context = {"worklist": worklist, "problem": " ".join(error.messages)}
        return render(request, "guestlinks/create_multi.html", context, status=400)
    form = GuestLinkForm(request.POST or None, study=studies[0])
    if request.method == "POST" and form.is_valid():
        try:
            link = services.guestlink_create(
                actor=request.user,
                studies=studies,
                worklist=worklist,
                request=request,
                **form.service_options(),
            )
        except ValidationError as error:
            for field, field_errors in error.message_dict.items():
                form.add_error(field if field in form.fields else None, field_errors)
        else:
            messages.success(
                request,
                f"Guest link created for {len(studies)} stud{'y' if len(studies) == 1 else 'ies'}."
                " Copy it from the list below.",
            )
            return redirect(_study_page(link.study, worklist))
    context = {"worklist": worklist, "studies": studies, "form": form}
    response = render(
        request, "guestlinks/create_multi.html", context, status=400 if form.is_bound else 200
    )
    add_never_cache_headers(response)  # it may hold the typed password
    return response
