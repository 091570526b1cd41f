from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path

from . import views

admin.site.site_header = "Cimar Share administration"
admin.site.site_title = "Cimar Share admin"

urlpatterns: list[URLPattern | URLResolver] = [
    path("favicon.ico", views.favicon),
    path("admin/", admin.site.urls),
    path("accounts/", include("accounts.urls")),
    path("studies/", include("studies.urls")),
    path("sharing/", include("sharing.urls")),
    path("dicomweb/", include("dicomweb.urls")),
    path("dicomnet/", include("dicomnet.urls")),
    path("g/", include("guestlinks.urls")),
    path("u/", include("uploadlinks.urls")),
    path("", include("studies.worklist_urls")),
]

# Media (DICOM files, rendered frames) is never served directly, not even in development:
# every image goes through the DICOMweb views, which check access on each request.
handler403 = "cimar_share.views.permission_denied"
