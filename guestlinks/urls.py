from django.urls import path, register_converter

from . import views
from .models import TOKEN_LENGTH


class TokenConverter:
    regex = f"[A-Za-z0-9_-]{{{TOKEN_LENGTH}}}"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(TokenConverter, "guesttoken")

app_name = "guestlinks"

urlpatterns = [
    # The guest's side: no token in any URL after the gate.
    path("view/<uuid:public_id>/", views.viewer, name="viewer"),
    path("end/", views.end_session, name="end"),
    # The clinician's side.
    path("manage/<uuid:worklist_id>/<uuid:study_id>/new/", views.create, name="create"),
    path("manage/<uuid:public_id>/delete/", views.delete, name="delete"),
    path("manage/<uuid:public_id>/send-again/", views.send_again, name="send_again"),
    path("<guesttoken:token>/", views.gate, name="gate"),
]
