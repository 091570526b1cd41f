from django.urls import path

from . import views

app_name = "sharing"

urlpatterns = [
    path("worklists/<uuid:public_id>/share/", views.share, name="share"),
    path(
        "worklists/<uuid:public_id>/share-code/", views.share_code_lookup, name="share_code_lookup"
    ),
    path("invitations/<uuid:public_id>/revoke/", views.invitation_revoke, name="invitation_revoke"),
    path(
        "invitations/<uuid:public_id>/send-again/",
        views.invitation_send_again,
        name="invitation_send_again",
    ),
    path("invitation/", views.invitation_page, name="invitation_page"),
    path("invite/<str:token>/", views.invitation, name="invitation"),
]
