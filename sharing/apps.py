from typing import Any

from django.apps import AppConfig


class SharingConfig(AppConfig):
    name = "sharing"
    verbose_name = "Sharing"

    def ready(self) -> None:
        from studies.registry import register_study_panel

        from .selectors import study_sharing

        def sharing_panel(*, user: Any, study: Any, worklists: list[Any], **_: Any) -> Any:
            return study_sharing(user=user, study=study, worklists=worklists)

        register_study_panel("sharing", sharing_panel)
