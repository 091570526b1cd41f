from django.apps import AppConfig


class GuestlinksConfig(AppConfig):
    name = "guestlinks"

    def ready(self) -> None:
        from . import signals  # noqa: F401
