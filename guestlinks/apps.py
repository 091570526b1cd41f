from django.apps import AppConfig


class GuestlinksConfig(AppConfig):
    name = "guestlinks"
