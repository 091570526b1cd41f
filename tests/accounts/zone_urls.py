"""A URL that answers with the time zone active for the request (for the time-zone tests)."""

from django.http import HttpResponse
from django.urls import path
from django.utils import timezone


def zone(request):  # type: ignore[no-untyped-def]
    user = request.user.get_username() if request.user.is_authenticated else "-"
    return HttpResponse(f"{user} {timezone.get_current_timezone_name()}")


urlpatterns = [path("zone/", zone)]
