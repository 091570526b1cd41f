from django.urls import path

from . import views

app_name = "dicomnet"

urlpatterns = [
    path("studies/<uuid:public_id>/send/", views.study_send, name="study_send"),
    path("studies/<uuid:public_id>/sends/", views.send_panel_view, name="send_panel"),
    path("worklists/<uuid:worklist_id>/send/", views.worklist_send, name="worklist_send"),
    path("worklists/<uuid:worklist_id>/sends/", views.worklist_sends_view, name="worklist_sends"),
]
