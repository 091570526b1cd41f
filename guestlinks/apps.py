from typing import Any

from django.apps import AppConfig


class GuestlinksConfig(AppConfig):
    name = "guestlinks"

    def ready(self) -> None:
        from notifications.registry import register_delivery_check, register_delivery_outcome
        from studies.registry import (
            WorklistAction,
            register_guest_access,
            register_study_panel,
            register_worklist_action,
        )

        from . import access, signals  # noqa: F401  (signals: its receivers)
        from .delivery import guestlink_delivered, guestlink_delivery
        from .onetimecode import TEMPLATE as CODE_TEMPLATE
        from .onetimecode import code_delivery
        from .selectors import guestlinks_panel

        def panel(*, user: Any, study: Any, worklist: Any, **_: Any) -> Any:
            return guestlinks_panel(user=user, study=study, worklist=worklist)

        register_study_panel("guestlinks_panel", panel)
        register_guest_access(access)  # the guest session's studies, for dicomweb's images
        register_delivery_check("guestlink_invite", guestlink_delivery)
        register_delivery_outcome("guestlink_invite", guestlink_delivered)
        # The worklist's selection bar: one link for several studies of a patient.
        register_worklist_action(
            WorklistAction(
                name="guestlink",
                label="Create guest link",
                url_name="guestlinks:create_multi",
                permission="create_guest_links",
            )
        )

        register_delivery_check(CODE_TEMPLATE, code_delivery)
