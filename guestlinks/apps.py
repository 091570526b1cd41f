from django.apps import AppConfig


class GuestlinksConfig(AppConfig):
    name = "guestlinks"

    def ready(self) -> None:
        from . import logs, signals  # noqa: F401

        logs.install()
