from django.apps import AppConfig


class DicomnetConfig(AppConfig):
    name = "dicomnet"
    verbose_name = "DICOM networking"

    def ready(self) -> None:
        from studies.panels import register_study_panel

        from .selectors import send_panel

        register_study_panel("dicomnet/_send_panel.html", send_panel)
