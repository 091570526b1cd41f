from django.urls import path

from . import views

app_name = "dicomnet"

urlpatterns = [
    path("studies/<uuid:public_id>/send/", views.study_send, name="study_send"),
    path("studies/<uuid:public_id>/sends/", views.send_panel_view, name="send_panel"),
]
