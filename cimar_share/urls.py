from django.conf import settings
from django.contrib import admin
from django.urls import include, path

admin.site.site_header = "Cimar Share administration"
admin.site.site_title = "Cimar Share admin"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("accounts.urls")),
    path("studies/", include("studies.urls")),
    path("g/", include("guestlinks.urls")),
    path("", include("worklists.urls")),
]

if settings.DEBUG:
    from django.conf.urls.static import static

    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
