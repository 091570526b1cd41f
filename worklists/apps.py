from typing import Any

from django.apps import AppConfig


class WorklistsConfig(AppConfig):
    name = "worklists"
    verbose_name = "Worklists and roles"

    def ready(self) -> None:
        from accounts.registry import register_user_created

        from .services import personal_worklist_ensure

        def give_a_personal_worklist(user: Any) -> None:
            personal_worklist_ensure(user=user)

        register_user_created(give_a_personal_worklist)
