"""python manage.py demo_banner --url URL: what `make run` prints before it serves the demo.

The logins come from seed_demo's own list, so the banner names every user the seed creates.
"""

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from .seed_demo import LOGINS, PASSWORD


class Command(BaseCommand):
    help = "Print where the demo is served, where links in messages point, and every demo login."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--url", required=True, help="The address the server listens on.")

    def handle(self, *args: Any, url: str, **options: Any) -> None:
        width = max(len(username) for username, _ in LOGINS) + 2
        lines = [
            "",
            f"  Cimar Share on {url}",
            f"  Links in emails and SMS start with {settings.SITE_URL}/ (SITE_URL)",
            f"  Demo logins (password: {PASSWORD}):",
            *(f"    {username:<{width}}{what}" for username, what in LOGINS),
        ]
        if settings.EMAIL_BACKEND.endswith("filebased.EmailBackend"):
            lines.append(f"  Emails are written to {_shown(settings.EMAIL_FILE_PATH)}/")
        if settings.SMS_BACKEND.endswith("OutboxBackend"):
            lines.append(f"  SMS are written to {_shown(settings.SMS_OUTBOX_DIR)}/")
        self.stdout.write("\n".join([*lines, ""]))


def _shown(path: Any) -> str:
    """A folder under the current directory as a relative path (short, like the README's)."""
    path = Path(path).resolve()
    return str(path.relative_to(Path.cwd())) if path.is_relative_to(Path.cwd()) else str(path)
