"""Response headers every dynamic page shares."""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils.cache import patch_cache_control


class NoStoreByDefaultMiddleware:
    """Pages and images carry patient data (a worklist, a study page, the viewer, a link's
    page): no response of the application is stored by a browser or a cache unless its view
    says otherwise (the favicon). Static files never reach this middleware: WhiteNoise, above
    it, answers them with their own long-lived, public Cache-Control."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if not response.has_header("Cache-Control"):
            patch_cache_control(response, private=True, no_store=True)
        return response
