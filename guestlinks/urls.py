from django.urls import path

import links.urls  # noqa: F401  (registers the "linktoken" converter)

from . import download_views, manage_views, views

app_name = "guestlinks"

urlpatterns = [
    # The guest's side: no token in any URL after the gate.
    path("view/<uuid:public_id>/", views.viewer, name="viewer"),
    path("end/", views.end_session, name="end"),
    path("download/study/", download_views.download_study, name="download_study"),
    path("download/image/", download_views.download_image, name="download_image"),
    # The clinician's side.
    path("manage/<uuid:worklist_id>/<uuid:study_id>/new/", views.create, name="create"),
    path("manage/<uuid:worklist_id>/new/", views.create_multi, name="create_multi"),
    path("manage/<uuid:public_id>/delete/", views.delete, name="delete"),
    path("manage/<uuid:public_id>/send-again/", views.send_again, name="send_again"),
    path("manage/<uuid:public_id>/edit/", manage_views.edit, name="edit"),
    path("manage/<uuid:public_id>/handout/", manage_views.handout, name="handout"),
    path("<linktoken:token>/", views.gate, name="gate"),
    path("<linktoken:token>/ask/", manage_views.ask_new_link, name="ask"),
]
