from django.apps import AppConfig


class DicomnetConfig(AppConfig):
    name = "dicomnet"
    verbose_name = "DICOM networking"

    def ready(self) -> None:
        from studies.registry import WorklistAction, register_study_panel, register_worklist_action

        from .selectors import send_panel

        register_study_panel("dicomnet_panel", send_panel)
        # The worklist's selection bar: the selected studies to one of the organisation's nodes.
        register_worklist_action(
            WorklistAction(
                name="send_to_pacs",
                label="Send to PACS…",
                url_name="dicomnet:worklist_send",
                permission="send_to_dicom_node",
            )
        )
