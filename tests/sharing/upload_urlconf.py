"""Test scaffolding until the ingest branch lands: templates/worklists/worklist.html links to
`studies:upload`, which that branch adds. A personal worklist's owner holds upload_studies, so
rendering it needs the name to exist. `needs_upload_url()` switches to this urlconf only while
the real route is missing; once it exists this module is unused (and can be deleted)."""

from django.http import HttpRequest, HttpResponse
from django.urls import NoReverseMatch, include, path, reverse

from cimar_share.urls import urlpatterns as real_urlpatterns
from studies import urls as studies_urls


def _not_here_yet(request: HttpRequest, public_id: str) -> HttpResponse:
    return HttpResponse("Upload comes with the ingest branch.", status=501)


urlpatterns = [
    path(
        "studies/",
        include(
            (
                [
                    *studies_urls.urlpatterns,
                    path("upload/<uuid:public_id>/", _not_here_yet, name="upload"),
                ],
                "studies",
            )
        ),
    ),
    *[pattern for pattern in real_urlpatterns if getattr(pattern, "app_name", None) != "studies"],
]


def needs_upload_url() -> bool:
    try:
        reverse("studies:upload", args=["00000000-0000-0000-0000-000000000000"])
    except NoReverseMatch:
        return True
    return False
