from django.apps import AppConfig


class UploadlinksConfig(AppConfig):
    name = "uploadlinks"

    def ready(self) -> None:
        from notifications.registry import register_delivery_check

        from .delivery import uploadlink_delivery

        register_delivery_check("uploadlink_invite", uploadlink_delivery)
