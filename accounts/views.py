from typing import Any

from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse_lazy
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST

from audit.models import AuditEvent
from audit.services import record_event

from . import services
from .forms import ApiTokenForm, LoginForm
from .models import ApiToken


def with_login_refusal_status(response: HttpResponse, form: Any) -> HttpResponse:
    """A login refused by the throttle answers 429 (503 when attempts cannot be counted), with
    Retry-After; the page shows the form with the reason."""
    attempt = getattr(form, "login_attempt", None)
    if attempt is not None and attempt.refused:
        response.status_code = attempt.status
        response["Retry-After"] = str(attempt.refused_for)
    return response


class LoginView(auth_views.LoginView):
    template_name = "accounts/login.html"
    authentication_form = LoginForm
    redirect_authenticated_user = True

    def form_invalid(self, form: Any) -> HttpResponse:
        return with_login_refusal_status(super().form_invalid(form), form)


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        record_event(action=AuditEvent.Action.LOGOUT, actor=request.user, request=request)
    logout(request)
    # Back to a page of ours when asked (an invitation meant for someone else opens again, for
    # the right person to log in); anywhere else is refused, as an open redirect would be.
    next_url = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(next_url, {request.get_host()}, request.is_secure()):
        return redirect(next_url)
    return redirect("accounts:login")


class AccountView(auth_views.PasswordChangeView):
    """The account page: change the password (every other session of the user ends; this one
    goes on under a new key), and log out everywhere."""

    template_name = "accounts/account.html"
    success_url = reverse_lazy("accounts:account")

    def form_valid(self, form: Any) -> HttpResponse:
        response = super().form_valid(form)  # saves, and keeps this session (new auth hash)
        services.sessions_end_for_user(
            user=form.user, keep_session_key=self.request.session.session_key
        )
        messages.success(self.request, "Your password was changed. Other sessions have ended.")
        return response

    def form_invalid(self, form: Any) -> HttpResponse:
        # A form sent back with its errors is a refused request: 400, as on every other form.
        response = super().form_invalid(form)
        response.status_code = 400
        return response


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    """A password set from a reset link ends every session of the user."""

    def form_valid(self, form: Any) -> HttpResponse:
        response = super().form_valid(form)
        services.sessions_end_for_user(user=form.user)
        return response


@login_required
@require_POST
def logout_everywhere(request: HttpRequest) -> HttpResponse:
    """End every session of the user, this one included. API tokens stay (they are not
    sessions): the page says so, and they are revoked on the API tokens page."""
    record_event(action=AuditEvent.Action.LOGOUT, actor=request.user, request=request)
    services.sessions_end_for_user(user=request.user)
    logout(request)
    messages.success(request, "You were logged out on every device and browser.")
    return redirect("accounts:login")


_NEW_TOKEN = "api_token_new"


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def api_tokens(request: HttpRequest) -> HttpResponse:
    """The user's API tokens for other software. A new token is shown once: kept in the session
    only until the page after the redirect shows it (so a reload neither repeats the POST nor
    shows it again)."""
    user: Any = request.user
    form = ApiTokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        token, plaintext = services.api_token_create(user=user, name=form.cleaned_data["name"])
        request.session[_NEW_TOKEN] = {"id": str(token.public_id), "plaintext": plaintext}
        return redirect("accounts:api_tokens")
    tokens = list(ApiToken.objects.filter(user=user))
    created = None
    new = request.session.pop(_NEW_TOKEN, None) if request.method == "GET" else None
    if new is not None:
        shown = next((t for t in tokens if str(t.public_id) == new["id"]), None)
        created = {"token": shown, "plaintext": new["plaintext"]} if shown else None
    response = render(
        request,
        "accounts/api_tokens.html",
        {"form": form, "tokens": tokens, "created": created},
        status=400 if form.errors else 200,
    )
    response["Cache-Control"] = "no-store"  # a page that may show a token
    return response


@login_required
@require_POST
def api_token_revoke(request: HttpRequest, public_id: Any) -> HttpResponse:
    user: Any = request.user
    token = get_object_or_404(ApiToken, public_id=public_id, user=user)
    services.api_token_revoke(user=request.user, token=token)
    return redirect("accounts:api_tokens")
