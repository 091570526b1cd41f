from django.apps import AppConfig


class DicomnetConfig(AppConfig):
    name = "dicomnet"
    verbose_name = "DICOM networking"

    def ready(self) -> None:
        from studies.registry import register_study_panel

        from .selectors import send_panel

        register_study_panel("dicomnet_panel", send_panel)
