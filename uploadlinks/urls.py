from django.urls import path

import links.urls  # noqa: F401  (registers the "linktoken" converter)

from . import views

app_name = "uploadlinks"

urlpatterns = [
    # The recipient's side: no token in any URL after the gate.
    path("upload/", views.upload_page, name="upload"),
    path("upload/start/", views.upload_start, name="start"),
    path("upload/<uuid:public_id>/", views.upload_summary, name="summary"),
    path("upload/<uuid:public_id>/files/<int:index>/", views.upload_chunk, name="chunk"),
    path("upload/<uuid:public_id>/finish/", views.upload_finish, name="finish"),
    # The clinician's side.
    path("manage/<uuid:worklist_id>/", views.manage, name="manage"),
    path("manage/link/<uuid:public_id>/edit/", views.edit, name="edit"),
    path("manage/link/<uuid:public_id>/delete/", views.delete, name="delete"),
    path("<linktoken:token>/", views.gate, name="gate"),
]
