"""A guest link over its life: the clinician's edit page and printable handout, and the
recipient's "ask for a new link" on the page of a link that no longer opens."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.referrer import send_no_referrer
from links.http import link_csrf_protect, link_page, too_many
from worklists.access import worklist_permissions

from . import services
from .access import get_guestlink_for_user
from .edit_forms import AskNewLinkForm, GuestLinkEditForm
from .handout import handout_context
from .policy import link_organisation, policy_for, policy_limits
from .views import _in_creator_zone, _study_page, unusable_link_page

# --- the clinician's side ----------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@login_required
def edit(request: HttpRequest, public_id: str) -> HttpResponse:
    """Change a link's expiry, limits, recipients and message; disable, enable or unlock it."""
    link = get_guestlink_for_user(request.user, public_id)
    if not services.guestlink_can_delete(user=request.user, link=link):
        raise PermissionDenied("Only its creator or someone who may create guest links here.")
    if link.deleted_at is not None:
        messages.error(request, "This guest link has been deleted: create a new one instead.")
        return redirect(_study_page(link.study, link.worklist))
    policy = policy_for(link_organisation(worklist=link.worklist, actor=link.created_by))
    unlocking = request.method == "POST" and "unlock" in request.POST
    form = GuestLinkEditForm(
        request.POST if request.method == "POST" and not unlocking else None,
        link=link,
        policy=policy,
    )
    status = 200
    if unlocking:
        try:
            services.guestlink_update(actor=request.user, link=link, request=request, unlock=True)
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            messages.success(request, "Guest link unlocked: the wrong-password count starts again.")
        return redirect(_study_page(link.study, link.worklist))
    if request.method == "POST":
        if form.is_valid():
            try:
                services.guestlink_update(
                    actor=request.user, link=link, request=request, **form.changes()
                )
            except ValidationError as error:
                for field, field_errors in error.message_dict.items():
                    target = "expires" if field == "expires_at" else field
                    form.add_error(target if target in form.fields else None, field_errors)
            else:
                messages.success(request, "Guest link saved.")
                return redirect(_study_page(link.study, link.worklist))
        status = 400
    with timezone.override(_in_creator_zone(link)):
        response = render(
            request,
            "guestlinks/edit.html",
            {
                "link": link,
                "form": form,
                "study": link.study,
                "worklist": link.worklist,
                "policy_limits": policy_limits(policy),
            },
            status=status,
        )
    return response


@require_GET
@login_required
def handout(request: HttpRequest, public_id: str) -> HttpResponse:
    """A printable sheet for the recipient: the link's URL and QR code, where the password
    goes and until when it opens; never the password. Whoever sees the link's URL in the
    panel may print it (the token is derived from the link's secret, so it is never stored
    or logged; the page is never cached)."""
    link = get_guestlink_for_user(request.user, public_id)
    may_see_url = link.created_by_id == request.user.pk or bool(
        {"view_guest_links", "create_guest_links"}
        & set(worklist_permissions(request.user, link.worklist))
    )
    if not may_see_url:
        raise PermissionDenied("Your role on this worklist does not show guest links.")
    with timezone.override(_in_creator_zone(link)):
        response = render(
            request,
            "guestlinks/handout.html",
            handout_context(link, back=_study_page(link.study, link.worklist)),
            status=200 if link.is_usable else 409,
        )
    add_never_cache_headers(response)  # it holds the link's URL
    send_no_referrer(response)
    return response


# --- the recipient's side ----------------------------------------------------------------


@link_page
@link_csrf_protect
@require_POST
def ask_new_link(request: HttpRequest, token: str) -> HttpResponse:
    """The same answer for every token, known or not, usable or not: nothing here tells the
    asker whether a link exists, what it opened, or whether anyone was told."""
    form = AskNewLinkForm(request.POST)
    if not form.is_valid():
        return unusable_link_page(request, token, form=form, status=400)
    retry_after = services.guestlink_ask_new_link(
        token=token, message=form.cleaned_data["message"], request=request
    )
    if retry_after is not None:
        return too_many(request, retry_after)
    return render(request, "guestlinks/asked.html")
