from django.urls import path

from . import views

app_name = "studies"

urlpatterns = [
    path("<uuid:public_id>/", views.study_detail, name="detail"),
    path("upload/<uuid:worklist_public_id>/", views.study_upload, name="upload"),
    path("<uuid:public_id>/viewer/", views.study_viewer, name="viewer"),
    path(
        "<uuid:public_id>/access-history/",
        views.study_access_history_page,
        name="access_history",
    ),
]
