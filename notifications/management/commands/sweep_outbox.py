"""Send the outbox's due messages without Celery beat: once, or every N seconds.

With a broker, beat runs the same sweep every NOTIFICATIONS_SWEEP_SECONDS. Without one (eager
mode: the embedded demo, or development against a real SMTP server) nothing else retries a
failed attempt, so run this from cron or as `manage.py sweep_outbox --every 60`.
"""

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from notifications.services import inline_delivery_resume, messages_sweep


class Command(BaseCommand):
    help = "Send pending messages whose time has come (and recover abandoned claims)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--every", type=int, default=0, help="Repeat every this many seconds (0: once)."
        )

    def handle(self, *args: Any, every: int = 0, **options: Any) -> None:
        while True:
            inline_delivery_resume()  # each run gets one fresh try at the mail server
            queued = messages_sweep()
            self.stdout.write(f"{queued} message(s) due were sent or queued.")
            if every <= 0:
                return
            time.sleep(every)
