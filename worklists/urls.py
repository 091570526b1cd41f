from django.urls import path

from . import views

app_name = "worklists"

urlpatterns = [
    path("", views.home, name="home"),
    path("worklists/<uuid:public_id>/", views.worklist_detail, name="detail"),
]
