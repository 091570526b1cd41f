from django.apps import AppConfig


class DicomwebConfig(AppConfig):
    name = "dicomweb"
    verbose_name = "DICOMweb"

    def ready(self) -> None:
        from studies.registry import register_after_ingest

        from .tasks import prerender_after_ingest

        register_after_ingest(prerender_after_ingest)
