from django.urls import path

from . import worklist_views as views

# The worklist pages keep their names (worklists:home, worklists:detail) and paths.
app_name = "worklists"

urlpatterns = [
    path("", views.home, name="home"),
    path("worklists/<uuid:public_id>/", views.worklist_detail, name="detail"),
]
