"""python manage.py seed_demo: the demo organisations, worklists, roles, users and studies.

Idempotent: what exists is left alone, so a second run changes nothing and takes a moment.
The studies are synthetic (demo.synthetic) and go in through the ingest service.
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

from accounts.models import Organisation, Partnership
from accounts.services import user_create
from demo.scale import scale_worklists, seed_scale
from demo.synthetic import Patient, study_uid, write_study
from studies.models import Study, WorklistEntry
from studies.services import study_ingest_paths
from worklists.models import (
    PRODUCT_PERMISSION_CODENAMES,
    Membership,
    Role,
    Worklist,
    product_permissions,
)
from worklists.services import membership_grant, role_save

PASSWORD = "demo"
DEMO_ORGANISATION = "Cimar Demo Hospital"  # sorts before the partner, so it is listed first
PARTNER_ORGANISATION = "Northfield Clinic"
FULL, VIEWER, RADIOGRAPHER = "Clinician (full)", "Viewer", "Radiographer"
ROLES = {
    FULL: (PRODUCT_PERMISSION_CODENAMES, "Every permission of the product on the worklist."),
    VIEWER: (["view_studies"], "View and search the studies list, nothing more."),
    RADIOGRAPHER: (["view_studies", "upload_studies"], "View, search and upload studies."),
}
# Worklists: (organisation, kind, name).
WorklistKey = tuple[str, str, str]
ORG_DEMO: WorklistKey = (DEMO_ORGANISATION, Worklist.Kind.ORGANISATION, DEMO_ORGANISATION)
RADIOLOGY: WorklistKey = (DEMO_ORGANISATION, Worklist.Kind.LOCATION, "Radiology")
EMERGENCY: WorklistKey = (DEMO_ORGANISATION, Worklist.Kind.LOCATION, "Emergency Department")
NEURO_MDT: WorklistKey = (DEMO_ORGANISATION, Worklist.Kind.GROUP, "Neuro MDT")
ORG_PARTNER: WorklistKey = (PARTNER_ORGANISATION, Worklist.Kind.ORGANISATION, PARTNER_ORGANISATION)
PARTNER_IMAGING: WorklistKey = (PARTNER_ORGANISATION, Worklist.Kind.LOCATION, "Northfield Imaging")
DEMO_WORKLISTS = [ORG_DEMO, RADIOLOGY, EMERGENCY, NEURO_MDT]
PARTNER_WORKLISTS = [ORG_PARTNER, PARTNER_IMAGING]


@dataclass(frozen=True)
class DemoUser:
    username: str
    title: str
    first_name: str
    last_name: str
    organisation: str
    grants: tuple[tuple[WorklistKey, str], ...] = ()  # (worklist, role)
    superuser: bool = False
    can: str = ""  # what this login is for, printed by seed_demo and demo_banner


USERS = [
    DemoUser(
        "demo",
        "Dr",
        "Alex",
        "Morgan",
        DEMO_ORGANISATION,
        tuple((w, FULL) for w in DEMO_WORKLISTS),
        can="every permission on the demo hospital's worklists",
    ),
    DemoUser(
        "viewer",
        "",
        "Sam",
        "Patel",
        DEMO_ORGANISATION,
        tuple((w, VIEWER) for w in DEMO_WORKLISTS),
        can="view and search only, on the same worklists",
    ),
    DemoUser(
        "drsmith",
        "Dr",
        "Jane",
        "Smith",
        DEMO_ORGANISATION,
        ((NEURO_MDT, FULL), (ORG_DEMO, FULL)),
        can="a second clinician (Neuro MDT and the hospital inbox) to share with",
    ),
    DemoUser(
        "radiographer",
        "",
        "Chris",
        "Evans",
        DEMO_ORGANISATION,
        ((RADIOLOGY, RADIOGRAPHER), (EMERGENCY, RADIOGRAPHER)),
        can="view, search and upload on Radiology and Emergency Department",
    ),
    DemoUser(
        "partner",
        "Dr",
        "Priya",
        "Shah",
        PARTNER_ORGANISATION,
        tuple((w, FULL) for w in PARTNER_WORKLISTS),
        can="every permission at Northfield Clinic, the partner organisation",
    ),
    DemoUser(
        "admin",
        "",
        "Robin",
        "Clarke",
        DEMO_ORGANISATION,
        superuser=True,
        can="Django admin at /admin/ (organisations, worklists, roles, memberships, audit)",
    ),
]
# What `make run` prints and the README's table lists: one line per demo user, from USERS.
LOGINS = [(user.username, user.can) for user in USERS]


@dataclass(frozen=True)
class DemoStudy:
    key: str
    modality: str
    kind: str
    date: dt.date
    series: int
    slices: int
    sizes: tuple[int, ...] | int = 256
    lesion_mm: float = 0.0
    description: str | None = None


# Each patient with a current study and one to three priors, all in one worklist.
PATIENTS: list[tuple[Patient, WorklistKey, list[DemoStudy]]] = [
    (
        Patient("Whitfield^Eleanor", "CDH100234", dt.date(1956, 4, 12), "F"),
        RADIOLOGY,
        [
            DemoStudy(
                "whitfield-1", "CT", "chest", dt.date(2025, 9, 15), 3, 40, (512, 256, 256), 11
            ),
            DemoStudy("whitfield-2", "CT", "chest", dt.date(2024, 9, 10), 2, 30, 256, 8),
            DemoStudy("whitfield-3", "CT", "chest", dt.date(2023, 3, 2), 2, 24, 256, 5),
        ],
    ),
    (
        Patient("Okafor^Daniel", "CDH100871", dt.date(1978, 11, 3), "M"),
        NEURO_MDT,
        [
            DemoStudy("okafor-1", "MR", "brain", dt.date(2025, 10, 2), 4, 24, 256, 14),
            DemoStudy("okafor-2", "MR", "brain", dt.date(2025, 3, 20), 3, 24, 256, 9),
            DemoStudy("okafor-3", "CT", "head", dt.date(2024, 12, 28), 2, 30, 256, 6),
        ],
    ),
    (
        Patient("Lindqvist^Maja", "CDH101455", dt.date(1990, 7, 21), "F"),
        EMERGENCY,
        [
            DemoStudy("lindqvist-1", "CT", "head", dt.date(2025, 10, 20), 2, 32, 256, 16),
            DemoStudy("lindqvist-2", "CT", "head", dt.date(2022, 6, 14), 2, 28, 256),
        ],
    ),
    (
        Patient("Harrington^George", "CDH099120", dt.date(1949, 1, 30), "M"),
        ORG_DEMO,
        [
            DemoStudy("harrington-1", "CT", "chest", dt.date(2025, 8, 11), 2, 36, 256, 7),
            DemoStudy("harrington-2", "MR", "brain", dt.date(2025, 2, 3), 3, 20, 256),
            DemoStudy("harrington-3", "CT", "chest", dt.date(2024, 1, 15), 2, 30, 256, 4),
        ],
    ),
    (
        Patient("Novak^Irena", "NFC-55102", dt.date(1968, 9, 9), "F", issuer="NORTHFIELD"),
        ORG_PARTNER,
        [
            DemoStudy("novak-1", "MR", "brain", dt.date(2025, 7, 7), 3, 24, 256, 10),
            DemoStudy("novak-2", "MR", "brain", dt.date(2024, 7, 1), 2, 24, 256, 6),
        ],
    ),
]


class Command(BaseCommand):
    help = (
        "Create the demo organisations, worklists, roles, users and synthetic studies (idempotent)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--slices",
            type=int,
            default=None,
            help="Slices per series instead of the demo's 20-40.",
        )
        parser.add_argument(
            "--size", type=int, default=None, help="Image matrix instead of the demo's 256/512."
        )
        parser.add_argument(
            "--studies",
            type=int,
            default=0,
            help=(
                "Also make sure this many archive studies exist (metadata only, bulk inserts) "
                "across the demo worklists and patients, for measuring at scale."
            ),
        )

    def handle(
        self, *args: Any, slices: int | None, size: int | None, studies: int, **options: Any
    ) -> None:
        started = time.monotonic()
        worklists = self._accounts()
        ingest_log = logging.getLogger("studies.services")
        level = ingest_log.level
        ingest_log.setLevel(logging.WARNING)  # this command prints its own line per study
        try:
            made = self._studies(worklists, slices=slices, size=size)
        finally:
            ingest_log.setLevel(level)
        if studies:
            self._scale(worklists, studies)
        self.stdout.write(
            f"Demo data ready in {time.monotonic() - started:.1f} s"
            + (f" ({made} studies generated)." if made else " (nothing to add).")
        )
        self.stdout.write("Demo logins (password: demo):")
        for username, what in LOGINS:
            self.stdout.write(f"  {username:<13} {what}")

    # ------------------------------------------------------------------ accounts

    @transaction.atomic
    def _accounts(self) -> dict[WorklistKey, Worklist]:
        organisations = {
            name: Organisation.objects.get_or_create(name=name)[0]
            for name in (DEMO_ORGANISATION, PARTNER_ORGANISATION)
        }
        demo, partner = organisations[DEMO_ORGANISATION], organisations[PARTNER_ORGANISATION]
        for a, b in ((demo, partner), (partner, demo)):
            Partnership.objects.get_or_create(from_organisation=a, to_organisation=b)
        worklists: dict[WorklistKey, Worklist] = {}
        for key in [*DEMO_WORKLISTS, *PARTNER_WORKLISTS]:
            organisation_name, kind, name = key
            lookup = {"organisation": organisations[organisation_name], "kind": kind}
            if kind != Worklist.Kind.ORGANISATION:
                lookup["name"] = name  # one organisation worklist each, whatever it is called
            worklists[key] = Worklist.objects.get_or_create(**lookup, defaults={"name": name})[0]
        roles = {name: _role(name, *spec) for name, spec in ROLES.items()}
        for spec in USERS:
            user = _user(spec, organisations[spec.organisation])
            for worklist_key, role_name in spec.grants:
                _member(user, worklists[worklist_key], roles[role_name])
        return worklists

    # ------------------------------------------------------------------ archive size

    def _scale(self, worklists: dict[WorklistKey, Worklist], total: int) -> None:
        started = time.monotonic()
        demo_user = get_user_model().objects.get(username="demo")
        full = Role.objects.get(name=FULL)
        targets = scale_worklists(
            [worklists[key] for key in (RADIOLOGY, EMERGENCY, NEURO_MDT, ORG_DEMO)],
            organisation=worklists[ORG_DEMO].organisation,
            ensure_member=lambda worklist: _member(demo_user, worklist, full),
        )

        def progress(done: int) -> None:
            self.stdout.write(f"  {done} archive studies", ending="\r")
            self.stdout.flush()

        added = seed_scale(total, targets, progress=progress)
        self.stdout.write(
            f"Archive studies: {added} added ({total} wanted) across {len(targets)} worklists "
            f"in {time.monotonic() - started:.1f} s."
        )

    # ------------------------------------------------------------------ studies

    def _studies(
        self,
        worklists: dict[WorklistKey, Worklist],
        *,
        slices: int | None,
        size: int | None,
    ) -> int:
        made = 0
        suffix = f"-{slices}x{size}" if slices or size else ""
        for patient, worklist_key, studies in PATIENTS:
            worklist = worklists[worklist_key]
            for spec in studies:
                key = spec.key + suffix
                series_slices = slices or spec.slices
                expected = spec.series * series_slices
                existing = Study.objects.filter(study_instance_uid=study_uid(key)).first()
                if (
                    existing is not None
                    and existing.number_of_instances >= expected
                    and WorklistEntry.objects.filter(worklist=worklist, study=existing).exists()
                ):
                    continue
                folder = Path(tempfile.mkdtemp(prefix="cimar-seed-"))
                try:
                    write_study(
                        folder,
                        patient=patient,
                        study_date=spec.date,
                        modality=spec.modality,
                        kind=spec.kind,
                        series_count=spec.series,
                        slices=series_slices,
                        size=size or spec.sizes,
                        lesion_mm=spec.lesion_mm,
                        uid_key=key,
                    )
                    report = study_ingest_paths(
                        actor=None,
                        worklist=worklist,
                        paths=[folder],
                        source=WorklistEntry.Source.IMPORT,
                    )
                finally:
                    shutil.rmtree(folder, ignore_errors=True)
                if report.rejected:
                    self.stderr.write(f"{spec.key}: {len(report.rejected)} files rejected")
                made += 1
                self.stdout.write(
                    f"  {spec.modality} {spec.kind} {spec.date:%d/%m/%Y} -> {worklist.name}: "
                    f"{report.imported} images"
                )
        return made


def _role(name: str, codenames: list[str], description: str) -> Role:
    role, _ = Role.objects.get_or_create(name=name, defaults={"description": description})
    wanted = set(codenames)
    if set(role.permissions.values_list("codename", flat=True)) != wanted:
        role.permissions.set(product_permissions().filter(codename__in=wanted))
        role_save(actor=None, role=role)
    return role


def _user(spec: DemoUser, organisation: Organisation) -> Any:
    user_model = get_user_model()
    user = user_model.objects.filter(username=spec.username).first()
    if user is not None:
        return user
    user = user_model(
        username=spec.username,
        email=f"{spec.username}@example.org",
        title=spec.title,
        first_name=spec.first_name,
        last_name=spec.last_name,
        organisation=organisation,
        is_staff=spec.superuser,
        is_superuser=spec.superuser,
    )
    user.set_password(PASSWORD)
    return user_create(user=user)


def _member(user: Any, worklist: Worklist, role: Role) -> None:
    if not Membership.objects.filter(user=user, worklist=worklist, role=role).exists():
        membership_grant(actor=None, user=user, worklist=worklist, role=role)
