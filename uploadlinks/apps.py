from django.apps import AppConfig


class UploadlinksConfig(AppConfig):
    name = "uploadlinks"

    def ready(self) -> None:
        from notifications.registry import register_delivery_check, register_delivery_outcome

        from .delivery import uploadlink_delivered, uploadlink_delivery

        register_delivery_check("uploadlink_invite", uploadlink_delivery)
        register_delivery_outcome("uploadlink_invite", uploadlink_delivered)
