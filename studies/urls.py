from django.urls import path

from . import views

app_name = "studies"

urlpatterns = [
    path("<uuid:public_id>/", views.study_detail, name="detail"),
    path("<uuid:public_id>/viewer/", views.study_viewer, name="viewer"),
]
