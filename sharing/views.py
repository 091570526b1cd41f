from typing import Any

from django.contrib import messages
from django.contrib.auth import get_user_model, login
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.referrer import no_referrer
from worklists.access import get_worklist_for_user, has_worklist_perm
from worklists.services import personal_worklist_ensure

from . import invitations as links
from . import services
from .access import get_invitation_for_user, get_share_source_for_user
from .forms import InvitationRegisterForm, ShareForm
from .models import Invitation
from .selectors import AcceptanceRefusal, invitation_acceptance_refusal, share_code_preview


def _is_fragment(request: HttpRequest) -> bool:
    """The dialog's JavaScript asks for the dialog's content only."""
    return request.headers.get("X-Requested-With") == "XMLHttpRequest"


@require_http_methods(["GET", "POST"])
@login_required
def share(request: HttpRequest, public_id: str) -> HttpResponse:
    """The share dialog (a page without JavaScript) for one or more studies of a worklist."""
    study_ids = (
        request.POST.getlist("study") if request.method == "POST" else request.GET.getlist("study")
    )
    worklist, studies = get_share_source_for_user(request.user, public_id, study_ids)
    form = ShareForm(request.POST or None, actor=request.user, source_worklist=worklist)
    if not form.channels:
        raise PermissionDenied(
            "Your role on this worklist does not allow sharing through any channel."
        )
    context = {
        "worklist": worklist,
        "studies": studies,
        "form": form,
        "fragment": _is_fragment(request),
    }
    status = 200
    if request.method == "POST" and "check_codes" in request.POST:
        context["code_previews"] = form.code_previews()
        form.errors.clear()  # only looking: no errors yet
    elif request.method == "POST" and form.is_valid():
        results = services.studies_share(
            actor=request.user,
            studies=studies,
            source_worklist=worklist,
            targets=form.targets(),
            message=form.cleaned_data.get("message", ""),
            request=request,
        )
        context["results"] = list(results.items())
    elif request.method == "POST":
        status = 400
    template = "sharing/_share_dialog.html" if context["fragment"] else "sharing/share.html"
    return render(request, template, context, status=status)


@require_GET
@login_required
def share_code_lookup(request: HttpRequest, public_id: str) -> JsonResponse:
    """What a typed share code belongs to, for the dialog to show before confirming."""
    worklist = get_worklist_for_user(request.user, public_id, need="share_study")
    if not has_worklist_perm(request.user, "share_via_code", worklist):
        raise PermissionDenied("Your role on this worklist does not allow sharing by share code.")
    preview = share_code_preview(request.GET.get("code", "")[:40], user=request.user)
    return JsonResponse(
        {"code": preview.code, "found": preview.found, "ok": preview.ok, "text": preview.text}
    )


@require_POST
@login_required
def invitation_revoke(request: HttpRequest, public_id: str) -> HttpResponse:
    invitation = get_invitation_for_user(request.user, public_id, need="revoke")
    try:
        services.invitation_revoke(actor=request.user, invitation=invitation, request=request)
        messages.success(request, f"The invitation to {invitation.email} is revoked.")
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    fallback = reverse("studies:detail", args=[invitation.study.public_id])
    next_url = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(next_url, {request.get_host()}, request.is_secure()):
        next_url = fallback
    return redirect(next_url)


@require_POST
@login_required
def invitation_send_again(request: HttpRequest, public_id: str) -> HttpResponse:
    invitation = get_invitation_for_user(request.user, public_id, need="revoke")
    try:
        services.invitation_send_again(actor=request.user, invitation=invitation)
        messages.success(request, f"The invitation to {invitation.email} is being sent again.")
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    path = reverse("studies:detail", args=[invitation.study.public_id])
    worklist = invitation.source_worklist
    return redirect(
        path + (f"?worklist={worklist.public_id}" if worklist else "") + "#share-history"
    )


# The invitation a browser arrived with, kept in its session so that the pages it fills in live
# at a URL without the token (see `invitation`).
SESSION_INVITATION = "sharing.invitation"


def _invitation_problem(request: HttpRequest, problem: str, status: int) -> HttpResponse:
    return render(request, "sharing/invitation_problem.html", {"problem": problem}, status=status)


def _pending_invitation(public_id: Any) -> tuple[Invitation | None, str, int]:
    """The pending invitation, or why there is none: (None, problem, status)."""
    found = (
        Invitation.objects.select_related("invited_by__organisation", "study")
        .filter(public_id=public_id)
        .first()
    )
    if found is None:
        return None, "invalid", 404
    if found.status != Invitation.Status.PENDING or found.is_expired:
        problem = {"accepted": "used", "revoked": "revoked"}.get(found.status, "expired")
        return None, problem, 410
    return found, "", 200


@never_cache
@no_referrer  # this URL holds the token
@require_http_methods(["GET", "HEAD"])
def invitation(request: HttpRequest, token: str) -> HttpResponse:
    """The link in the email. Its URL holds the token, so it only checks the link, keeps the
    invitation in the browser's session and redirects to `invitation_page`, whose URL is free
    of tokens: its forms are posted with an ordinary Origin and CSRF applies as everywhere
    (a page sent with `Referrer-Policy: no-referrer` makes Chromium post `Origin: null`)."""
    try:
        public_id = links.read_token(token)
    except links.InvitationLinkExpired:
        response = _invitation_problem(request, "expired", 410)
    except links.InvitationLinkInvalid:
        response = _invitation_problem(request, "invalid", 400)
    else:
        found, problem, status = _pending_invitation(public_id)
        if found is None:
            response = _invitation_problem(request, problem, status)
        else:
            request.session[SESSION_INVITATION] = str(found.public_id)
            response = redirect("sharing:invitation_page")
    return response


def _invitation_refused(
    request: HttpRequest, found: Invitation, refusal: AcceptanceRefusal
) -> HttpResponse:
    # Logging out ends the session that holds the invitation: the button goes back through
    # the link itself, which the person opened to get here.
    reopen = reverse("sharing:invitation", args=[links.make_token(found.public_id)])
    context = {"invitation": found, "refusal": refusal, "reopen": reopen}
    return render(request, "sharing/invitation_refused.html", context, status=403)


@never_cache
@require_http_methods(["GET", "POST"])
def invitation_page(request: HttpRequest) -> HttpResponse:
    """Register (or, signed in, accept) the invitation this browser arrived with, and land on
    the personal worklist."""
    public_id = request.session.get(SESSION_INVITATION)
    if not public_id:
        return _invitation_problem(request, "missing", 400)
    found, problem, status = _pending_invitation(public_id)
    if found is None:
        return _invitation_problem(request, problem, status)
    view = _invitation_accept if request.user.is_authenticated else _invitation_register
    return view(request, found)


def _invitation_accept(request: HttpRequest, found: Invitation) -> HttpResponse:
    if request.method == "POST":
        try:
            acceptance = services.invitation_accept(
                actor=request.user, invitation=found, request=request
            )
        except ValidationError:  # used or revoked a moment ago
            return _invitation_problem(request, "used", 410)
        if acceptance.refusal is not None:
            return _invitation_refused(request, found, acceptance.refusal)
        count = acceptance.honoured
        messages.success(
            request,
            f"{count} shared stud{'y' if count == 1 else 'ies'} added to your personal worklist.",
        )
        return redirect(
            "worklists:detail", public_id=personal_worklist_ensure(user=request.user).public_id
        )
    refusal = invitation_acceptance_refusal(request.user, found)
    if refusal is not None:
        return _invitation_refused(request, found, refusal)
    return render(request, "sharing/invitation_accept.html", {"invitation": found})


def _invitation_register(request: HttpRequest, found: Invitation) -> HttpResponse:
    if get_user_model().objects.filter(email__iexact=found.email, is_active=True).exists():
        return render(request, "sharing/invitation_login.html", {"invitation": found})
    form = InvitationRegisterForm(request.POST or None, email=found.email)
    if request.method == "POST" and form.is_valid():
        try:
            user = services.invited_user_register(
                invitation=found,
                first_name=form.cleaned_data["first_name"],
                last_name=form.cleaned_data["last_name"],
                password=form.cleaned_data["password1"],
                request=request,
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            login(request, user, backend="accounts.backends.UserBackend")
            messages.success(
                request, "Welcome to Cimar Share. The studies shared with you are here."
            )
            return redirect(
                "worklists:detail", public_id=personal_worklist_ensure(user=user).public_id
            )
    status = 400 if form.is_bound and form.errors else 200
    return render(
        request,
        "sharing/invitation_register.html",
        {"invitation": found, "form": form},
        status=status,
    )
