"""`python manage.py dicom_scp`: the DICOM Storage SCP, as its own process beside web and worker."""

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from dicomnet.scp import StorageSCP, tls_context


class Command(BaseCommand):
    help = (
        "Receive studies from PACS and modalities: C-ECHO and C-STORE on DICOM_SCP_PORT, into "
        "the worklist whose AE title is called, from registered remote nodes only."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--bind", default=settings.DICOM_SCP_BIND)
        parser.add_argument("--port", type=int, default=settings.DICOM_SCP_PORT)

    def handle(self, *args: Any, **options: Any) -> None:
        tls = " with TLS" if tls_context() is not None else ""
        self.stdout.write(
            f"DICOM Storage SCP {settings.DICOM_AE_TITLE} listening on "
            f"{options['bind']}:{options['port']}{tls}; Ctrl-C stops it."
        )
        try:
            StorageSCP().start((options["bind"], options["port"]), block=True)
        except KeyboardInterrupt:
            self.stdout.write("Stopped.")
