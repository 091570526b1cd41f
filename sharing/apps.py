from typing import Any

from django.apps import AppConfig


class SharingConfig(AppConfig):
    name = "sharing"
    verbose_name = "Sharing"

    def ready(self) -> None:
        from notifications.registry import register_delivery_check, register_delivery_outcome
        from studies.registry import register_study_panel

        from .delivery import invitation_delivered, invitation_delivery
        from .selectors import study_sharing

        def sharing_panel(*, user: Any, study: Any, worklists: list[Any], **_: Any) -> Any:
            return study_sharing(user=user, study=study, worklists=worklists)

        register_study_panel("sharing", sharing_panel)
        register_delivery_check("invitation", invitation_delivery)
        register_delivery_outcome("invitation", invitation_delivered)
