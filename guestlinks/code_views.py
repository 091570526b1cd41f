"""The gate's second step for links with a one-time code (onetimecode.py): the code form, at
the link's own URL (a POST with `code`, or `resend` for a new code)."""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render

from links.http import too_many, unavailable

from . import onetimecode, services
from .forms import GateCodeForm
from .models import GuestLink, GuestLinkAccess, GuestLinkCode

Outcome = GuestLinkAccess.Outcome


def is_code_step(request: HttpRequest) -> bool:
    return "code" in request.POST or "resend" in request.POST


def code_sent(request: HttpRequest, challenge: GuestLinkCode) -> HttpResponse:
    """The password was right and a code is on its way: the code form, fetched with a GET (a
    reload asks for nothing again)."""
    onetimecode.pending_save(request, challenge)
    see_other = HttpResponseRedirect(request.path)
    see_other.status_code = 303
    return see_other


def render_code_step(
    request: HttpRequest,
    link: GuestLink,
    *,
    form: GateCodeForm | None = None,
    error: str = "",
    notice: str = "",
    status: int = 200,
) -> HttpResponse:
    challenge = onetimecode.pending_code(request, link)
    context = {
        "link": link,
        "form": form or GateCodeForm(),
        "error": error,
        "notice": notice,
        "sent_to": onetimecode.destination_hint(challenge) if challenge else "",
        "minutes": int(onetimecode.CODE_LIFETIME.total_seconds() // 60),
    }
    return render(request, "guestlinks/gate_code.html", context, status=status)


def code_step(
    request: HttpRequest,
    token: str,
    link: GuestLink,
    *,
    opened: Callable[[HttpRequest, services.OpenResult], HttpResponse],
) -> HttpResponse:
    if "resend" in request.POST:
        result = services.guestlink_code_resend(link=link, token=token, request=request)
    else:
        result = services.guestlink_code_check(
            link=link, token=token, code=request.POST.get("code", ""), request=request
        )
    outcome, current = result.outcome, result.link or link
    if outcome == Outcome.OPENED and result.link is not None:
        onetimecode.pending_clear(request)
        return opened(request, result)
    if outcome == Outcome.CODE_SENT and result.code is not None:
        onetimecode.pending_save(request, result.code)
        return render_code_step(request, current, notice="A new code is on its way.")
    if outcome == Outcome.RATE_LIMITED:
        return too_many(request, result.retry_after)
    if outcome == services.NO_CODE:
        # No code was sent to this browser for this link: the password comes first.
        return HttpResponseRedirect(request.path, status=303)
    if outcome == services.RESEND_WAIT:
        wait = result.retry_after or 1
        return render_code_step(
            request,
            current,
            error=f"A code was sent moments ago. You can ask for another in {wait} seconds.",
            status=429,
        )
    if outcome == services.NOT_A_CODE:
        form = GateCodeForm(request.POST)
        form.add_error("code", "Enter the 6 digits of the code we sent you.")
        return render_code_step(request, current, form=form, status=400)
    if outcome == Outcome.CODE_EXPIRED:
        return render_code_step(
            request,
            current,
            error="That code has expired or has already been used. Ask for a new code below.",
            status=400,
        )
    if outcome == Outcome.WRONG_CODE and result.attempts_left:
        left = result.attempts_left
        return render_code_step(
            request,
            current,
            error=f"That code is not right. {left} attempt{'s' if left != 1 else ''} left.",
            status=403,
        )
    return unavailable(request)
