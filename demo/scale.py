"""Archive-sized demo data: `seed_demo --studies N` adds N studies' metadata in bulk.

No pixel data and no files: rows only (studies and their worklist entries), inserted in batches,
so that the worklist pages, search and counters can be measured at the size of a hospital's
archive. The studies belong to patients with a few studies each, and are spread over the demo
hospital's worklists plus enough "Scale" group worklists that the `demo` user is a member of
SCALE_MEMBERSHIPS worklists. Idempotent: studies are numbered, and a second run adds only the
numbers not yet present.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable, Iterator
from typing import Any

from django.db import connection, transaction

from studies.models import Study, WorklistEntry
from studies.selectors import forget_worklist_counts
from worklists.models import Worklist

SCALE_UID_ROOT = "2.25.9"  # followed by the study's number: unique and recognisable
SCALE_MEMBERSHIPS = 50
SCALE_WORKLIST_PREFIX = "Scale group"
BATCH = 5000
STUDIES_PER_PATIENT = 4

FAMILY = (
    "Smith Jones Taylor Brown Williams Wilson Johnson Davies Robinson Wright Thompson Evans "
    "Walker White Roberts Green Hall Wood Jackson Clarke Patel Khan Lewis James Phillips Mason "
    "Mitchell Rose Davis Rodriguez Cox Alexander Garden Campbell Johnston Moore Smyth Okafor "
    "Nowak Kowalski Murphy Kelly Byrne Ryan Walsh Oconnor Mcdonald Stewart Scott Reid Murray "
    "Harris Martin Lee Young King Allen Baker Hill Morris Ward Turner Cooper Hughes Edwards"
).split()
GIVEN = (
    "Oliver George Harry Jack Jacob Noah Charlie Muhammad Thomas Oscar William James Henry "
    "Olivia Amelia Isla Ava Emily Sophia Grace Mia Poppy Ella Lily Evie Isabella Sophie Ivy "
    "Freya Harper Daniel Irena Aisha Priya Chen Wei Yusuf Fatima Zofia Tomasz"
).split()
STUDY_KINDS = (
    ("CT", "CT head without contrast"),
    ("CT", "CT chest abdomen pelvis with contrast"),
    ("CT", "CT pulmonary angiogram"),
    ("MR", "MRI brain with and without contrast"),
    ("MR", "MRI lumbar spine"),
    ("MR", "MRI knee left"),
    ("CR", "Chest X-ray PA"),
    ("DX", "Hand X-ray right"),
    ("US", "Ultrasound abdomen"),
    ("MG", "Screening mammogram bilateral"),
    ("PT", "PET-CT whole body"),
    ("NM", "Bone scan whole body"),
)
REFERRERS = ("Hart^Imogen^^Dr", "Okoro^Chidi^^Dr", "Lindqvist^Ana^^Dr", "Shah^Ravi^^Dr", "")
FIRST_DAY = dt.date(2016, 1, 1)
DAYS = 3650


def scale_worklists(
    base: list[Worklist], *, organisation: Any, ensure_member: Callable[[Worklist], None]
) -> list[Worklist]:
    """The worklists scale studies go to: `base` plus "Scale group NN" up to SCALE_MEMBERSHIPS."""
    worklists = list(base)
    for number in range(1, SCALE_MEMBERSHIPS - len(base) + 1):
        worklist, _ = Worklist.objects.get_or_create(
            organisation=organisation,
            kind=Worklist.Kind.GROUP,
            name=f"{SCALE_WORKLIST_PREFIX} {number:02d}",
        )
        ensure_member(worklist)
        worklists.append(worklist)
    return worklists


def scale_uid(number: int) -> str:
    return f"{SCALE_UID_ROOT}{number:09d}"


def existing_scale_studies() -> int:
    return Study.objects.filter(study_instance_uid__startswith=SCALE_UID_ROOT).count()


def _studies(start: int, stop: int) -> Iterator[Study]:
    for number in range(start, stop):
        # Made-up data, the same on every run (not security): one patient, several studies.
        rng = random.Random(number // STUDIES_PER_PATIENT)  # noqa: S311
        family, given = rng.choice(FAMILY), rng.choice(GIVEN)
        patient_number = number // STUDIES_PER_PATIENT
        birth = dt.date(1930, 1, 1) + dt.timedelta(days=rng.randrange(80 * 365))
        sex = rng.choice("FM")
        rng = random.Random(number)  # noqa: S311
        modality, description = rng.choice(STUDY_KINDS)
        yield Study(
            study_instance_uid=scale_uid(number),
            patient_name=f"{family}^{given}",
            patient_id=f"SC{patient_number:07d}",
            issuer_of_patient_id="SCALE",
            patient_birth_date=birth,
            patient_sex=sex,
            study_date=FIRST_DAY + dt.timedelta(days=rng.randrange(DAYS)),
            study_time=dt.time(rng.randrange(7, 20), rng.randrange(60)),
            study_description=description,
            accession_number=f"ACC{number:09d}",
            referring_physician_name=rng.choice(REFERRERS),
            modalities_in_study=modality,
        )


def worklist_for(number: int, worklists: list[Worklist]) -> Worklist:
    """Half of the studies go to the first worklist (one big one), the rest round the others."""
    if number % 2 == 0 or len(worklists) == 1:
        return worklists[0]
    return worklists[1 + (number // 2) % (len(worklists) - 1)]


def seed_scale(
    total: int, worklists: list[Worklist], *, progress: Callable[[int], None] | None = None
) -> int:
    """Make sure scale studies 0..total-1 exist; returns how many were added."""
    start = existing_scale_studies()
    for batch_start in range(start, total, BATCH):
        batch_stop = min(total, batch_start + BATCH)
        with transaction.atomic():
            studies = Study.objects.bulk_create(_studies(batch_start, batch_stop))
            WorklistEntry.objects.bulk_create(
                WorklistEntry(
                    worklist=worklist_for(number, worklists),
                    study=study,
                    source=WorklistEntry.Source.IMPORT,
                )
                for number, study in zip(range(batch_start, batch_stop), studies, strict=True)
            )
        if progress:
            progress(batch_stop)
    added = max(0, total - start)
    if added and connection.vendor == "postgresql" and not connection.in_atomic_block:
        # Fresh statistics (or the planner guesses), and the trigram indexes' pending lists
        # merged (a GIN index scans its unmerged inserts one by one): what autovacuum does
        # some time later, done now so that the figures right after seeding are the real ones.
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE studies_study")
            cursor.execute("VACUUM ANALYZE studies_worklistentry")
    forget_worklist_counts(worklist.pk for worklist in worklists)
    return added
