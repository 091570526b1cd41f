import zoneinfo
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from .sessions import clinician_session_renew


class OrganisationTimezoneMiddleware:
    """Show times in the signed-in user's organisation's time zone."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        organisation = getattr(getattr(request, "user", None), "organisation", None)
        if organisation is not None:
            timezone.activate(zoneinfo.ZoneInfo(organisation.time_zone))
        else:
            timezone.deactivate()
        return self.get_response(request)


class ClinicianSessionMiddleware:
    """Keeps a signed-in user's session alive while they use it, within its limits
    (accounts.sessions: idle timeout and absolute lifetime). A request signed in by an API
    token has no session to renew."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if (
            user is not None
            and user.is_authenticated
            and not getattr(request, "api_token", False)
            and hasattr(request, "session")
        ):
            clinician_session_renew(request.session)
        return self.get_response(request)
