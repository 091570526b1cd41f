"""`python manage.py dicom_scp`: the DICOM Storage SCP, as its own process beside web and worker.

SIGTERM (a container or process manager stopping it) and Ctrl-C stop it the same way: no new
associations, STOP_GRACE seconds for those in progress to end, then the rest are aborted (the
sender retries them; every instance stored so far is kept and audited)."""

import signal
import threading
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from dicomnet.scp import StorageSCP, tls_context

# Seconds for associations in progress to end: within the 10 s a container manager gives by
# default between SIGTERM and SIGKILL (compose.yaml's stop_grace_period).
STOP_GRACE = 8.0


class Command(BaseCommand):
    help = (
        "Receive studies from PACS and modalities: C-ECHO and C-STORE on DICOM_SCP_PORT, into "
        "the worklist whose AE title is called, from registered remote nodes only."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--bind", default=settings.DICOM_SCP_BIND)
        parser.add_argument("--port", type=int, default=settings.DICOM_SCP_PORT)

    def handle(self, *args: Any, **options: Any) -> None:
        stop = threading.Event()
        for number in (signal.SIGTERM, signal.SIGINT):
            signal.signal(number, lambda *_: stop.set())
        scp = StorageSCP()
        server = scp.start((options["bind"], options["port"]))
        tls = " with TLS" if tls_context() is not None else ""
        host, port = server.server_address[:2]
        self.stdout.write(
            f"DICOM Storage SCP {settings.DICOM_AE_TITLE} listening on {host}:{port}{tls}; "
            "SIGTERM or Ctrl-C stops it."
        )
        self.stdout.flush()
        while not stop.wait(1):  # a timed wait: the signal handlers run between its polls
            pass
        server.shutdown()
        aborted = scp.drain(server, grace=STOP_GRACE)
        self.stdout.write(f"Stopped ({aborted} associations aborted)." if aborted else "Stopped.")
