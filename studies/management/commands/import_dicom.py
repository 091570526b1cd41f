"""python manage.py import_dicom PATH... --worklist SHARE_CODE"""

import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from studies.models import WorklistEntry
from studies.services import ingest_file_count, study_ingest_paths
from worklists import sharecodes
from worklists.models import Worklist


class Command(BaseCommand):
    help = (
        "Import DICOM files, folders (searched recursively) and zip archives into the worklist "
        "with the given share code. Exits with status 1 when any file was rejected."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("paths", nargs="+", metavar="PATH", help="DICOM file, folder or zip")
        parser.add_argument(
            "--worklist",
            required=True,
            metavar="SHARE_CODE",
            help="Share code of the target worklist, e.g. 7KQ2-M9XD (any case, dash optional).",
        )

    def handle(self, *args: Any, paths: list[str], worklist: str, **options: Any) -> None:
        code = sharecodes.normalise(worklist)
        target = Worklist.objects.filter(share_code=code).first()
        if target is None:
            raise CommandError(f"No worklist has the share code {worklist!r}.")
        missing = [path for path in paths if not Path(path).exists()]
        if missing:
            raise CommandError(f"No such file or folder: {', '.join(missing)}")

        quiet = options["verbosity"] == 0
        with tqdm(
            total=ingest_file_count(paths), unit="file", disable=quiet, file=sys.stderr
        ) as bar:
            report = study_ingest_paths(
                actor=None,
                worklist=target,
                paths=paths,
                source=WorklistEntry.Source.IMPORT,
                progress=lambda name: bar.update(1),
            )

        self.stdout.write(f"Worklist: {target.name} ({target.share_code_display})")
        self.stdout.write(f"Imported: {report.imported}")
        self.stdout.write(f"Already present: {report.already_present}")
        self.stdout.write(f"Studies: {len(report.studies)}")
        self.stdout.write(f"Rejected: {report.rejected.total}")
        for name, reason in report.rejected:
            self.stdout.write(f"  {name}: {reason}")
        if report.rejected.not_listed:
            self.stdout.write(f"  ...and {report.rejected.not_listed} more not listed")
        if report.rejected.total:
            raise CommandError(f"{report.rejected.total} file(s) were rejected.", returncode=1)
        self.stdout.write(self.style.SUCCESS("Done."))
