"""`make bench`: the load test. Clinicians browsing, guest-link recipients scrolling frames and
uploaders, at once, against the production stack; then the database's counters are checked
against what locust saw.

gunicorn (gunicorn.conf.py: gthread workers) and a real Celery worker run on PostgreSQL and
Redis with DJANGO_DEBUG=0; locust (bench/locustfile.py) runs headless for SECONDS with USERS
simulated people. Afterwards, exactly:
- the guest link with `max_uses` N was opened by N sessions (no more, however many tried; all
  of them if fewer than N tried), the
  unlimited one by as many as locust saw opened; each link's use_count and its access log say
  the same;
- every upload locust saw finish is an upload in the database, with its new study and every
  instance; the upload link's use_count is that number;
- locust saw no failure (any answer other than the expected one), and the web and worker logs
  hold no traceback.
Throughput and p95 per page are printed and written to bench/results/load-<timestamp>.json
and bench/results/load-latest.json.

Needs DATABASE_URL=postgres://... and CELERY_BROKER_URL (or REDIS_URL); it makes its own
database beside DATABASE_URL's (`<name>_load`) and drops it at the end. On its own:
`DATABASE_URL=... REDIS_URL=... .venv/bin/python -m bench.load [--seconds 60] [--users 12]`.
tests/integration/test_load.py runs a shorter version in CI.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
PASSWORD = "load-test-password-42"  # the clinicians'
GUEST_PASSWORD = "guest-password-17"
UPLOAD_PASSWORD = "upload-password-23"
STUDIES, SLICES = 6, 8
LIMITED_USES = 10  # the guest link that runs out during the run
FILES_PER_UPLOAD = 3
CLINICIANS = 4


# --- what is served ---------------------------------------------------------------------------


def prepare(
    *, limited_uses: int = LIMITED_USES, studies_count: int = STUDIES, slices: int = SLICES
) -> dict[str, Any]:
    """Users, a worklist of CT studies, two guest links and an upload link, in the configured
    database (Django set up); the plan locust follows, as JSON-ready data."""
    import io

    import numpy as np
    from django.contrib.auth import get_user_model
    from django.urls import reverse
    from pydicom.uid import generate_uid

    from accounts.models import Organisation
    from accounts.services import user_create
    from demo.phantom import ct_phantom
    from guestlinks.services import guestlink_create
    from studies.models import Study
    from studies.services import study_ingest
    from testkit.dicom_files import dataset, to_bytes
    from uploadlinks.services import uploadlink_create
    from worklists import services as worklist_services
    from worklists.models import Role, Worklist, product_permissions

    organisation = Organisation.objects.create(name="Load Test Hospital")
    worklist = Worklist.objects.create(organisation=organisation, name="Radiology", kind="location")
    role, _ = Role.objects.get_or_create(name="Load test: everything")
    role.permissions.set(product_permissions())
    worklist_services.role_sync_permissions(role=role)
    users = []
    for n in range(CLINICIANS):
        user = get_user_model()(
            username=f"load{n}", email=f"load{n}@example.org", organisation=organisation
        )
        user.set_password(PASSWORD)
        user = user_create(user=user)
        worklist_services.membership_grant(actor=None, user=user, worklist=worklist, role=role)
        users.append(user)

    studies = []
    for s in range(studies_count):
        study_uid, series_uid = generate_uid(), generate_uid()
        files = []
        for k in range(slices):
            hu = ct_phantom(64, body_radius=12 + 2 * k, body_hu=60, texture_hu=40)
            ds = dataset(
                (hu + 1024).astype(np.int64),
                bits_stored=12,
                signed=True,
                RescaleIntercept=-1024,
                RescaleSlope=1,
                WindowCenter=40,
                WindowWidth=400,
                InstanceNumber=k + 1,
                StudyInstanceUID=study_uid,
                SeriesInstanceUID=series_uid,
                PatientName=f"Load^Patient{s}",
                PatientID=f"LOAD{s:03d}",
                StudyDescription="CT chest",
            )
            files.append((f"IMG{k:04d}", to_bytes(ds)))
        study_ingest(
            actor=users[0],
            worklist=worklist,
            files=[(name, io.BytesIO(data)) for name, data in files],
        )
        studies.append(Study.objects.get(study_instance_uid=study_uid))

    def frames(study: Any) -> list[str]:
        return [
            reverse(
                "dicomweb:frame_rendered",
                kwargs={
                    "study": study.study_instance_uid,
                    "series": instance.series.series_instance_uid,
                    "instance": instance.sop_instance_uid,
                    "frame": 1,
                },
            )
            for instance in _instances(study)
        ]

    open_link = guestlink_create(
        actor=users[0], study=studies[0], worklist=worklist, password=GUEST_PASSWORD
    )
    limited = guestlink_create(
        actor=users[0],
        study=studies[1],
        worklist=worklist,
        password=GUEST_PASSWORD,
        max_uses=limited_uses,
    )
    upload_link = uploadlink_create(actor=users[0], worklist=worklist, password=UPLOAD_PASSWORD)
    return {
        "password": PASSWORD,
        "clinicians": [u.username for u in users],
        "worklist": reverse("worklists:detail", args=[worklist.public_id]),
        "studies": [
            {
                "page": reverse("studies:detail", args=[s.public_id]),
                "viewer": reverse("studies:viewer", args=[s.public_id]),
                "frames": frames(s),
            }
            for s in studies
        ],
        "guest_links": {
            "open": {
                "id": open_link.pk,
                "url": open_link.get_absolute_url(),
                "password": GUEST_PASSWORD,
                "frames": frames(studies[0]),
            },
            "limited": {
                "id": limited.pk,
                "url": limited.get_absolute_url(),
                "password": GUEST_PASSWORD,
                "frames": frames(studies[1]),
                "max_uses": limited_uses,
            },
        },
        "upload_link": {
            "id": upload_link.pk,
            "url": upload_link.get_absolute_url(),
            "password": UPLOAD_PASSWORD,
        },
        "files_per_upload": FILES_PER_UPLOAD,
        "worklist_id": worklist.pk,
        "studies_before": len(studies),
    }


def _instances(study: Any) -> list[Any]:
    from studies.models import Instance

    return list(
        Instance.objects.filter(series__study=study)
        .select_related("series")
        .order_by("series__series_number", "instance_number")
    )


# --- the run ----------------------------------------------------------------------------------


def stack_env(database_url: str, broker_url: str, workdir: Path, secret_key: str) -> dict[str, str]:
    """The environment of gunicorn and the worker: production mode, our database and broker,
    media and static files in `workdir`, the per-address limits out of the way (every
    simulated person comes from 127.0.0.1). `secret_key`: the one `prepare` ran with (link
    tokens are derived from it)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "DJANGO_ALLOW"))}
    env.update(
        DJANGO_SETTINGS_MODULE="cimar_share.settings",
        DJANGO_DEBUG="0",
        SECRET_KEY=secret_key,
        ALLOWED_HOSTS="127.0.0.1,localhost",
        SECURE_COOKIES="0",
        LOG_LEVEL="WARNING",
        DATABASE_URL=database_url,
        CELERY_BROKER_URL=broker_url,
        CACHE_URL=broker_url,
        # VAR_DIR keeps the collected static files between runs (see collect_static).
        VAR_DIR=str(ROOT / "var" / "load"),
        MEDIA_ROOT=str(workdir / "media"),
        GUESTLINK_RATE_LIMIT_PER_IP="1000000",
        GUESTLINK_RATE_LIMIT_PER_LINK="1000000",
        UPLOADLINK_RATE_LIMIT_PER_IP="1000000",
        UPLOADLINK_RATE_LIMIT_PER_LINK="1000000",
        UPLOADLINK_RATE_LIMIT_UPLOADS_PER_IP="1000000",
    )
    return env


def run_load(
    plan: dict[str, Any], env: dict[str, str], workdir: Path, *, seconds: int, users: int,
    workers: int = 2,
) -> dict[str, Any]:  # fmt: skip
    """Start the stack, run locust headless for `seconds`, stop; locust's report."""
    from testkit.stack import web_and_worker

    started = time.monotonic()
    collect_static(env)
    timings = {"collectstatic_s": round(time.monotonic() - started, 1)}
    plan_file, report_file = workdir / "plan.json", workdir / "report.json"
    plan_file.write_text(json.dumps(plan))
    with web_and_worker(env, workdir / "logs", workers=workers) as stack:
        timings["stack_start_s"] = round(time.monotonic() - started - timings["collectstatic_s"], 1)
        locust = Path(sys.executable).with_name("locust")
        result = subprocess.run(  # noqa: S603 (our own locust, fixed arguments)
            [str(locust), "-f", str(ROOT / "bench" / "locustfile.py"), "--headless",
             "--host", stack.url, "--users", str(users), "--spawn-rate", str(users),
             "--run-time", f"{seconds}s", "--stop-timeout", "5", "--only-summary",
             "--loglevel", "WARNING"],
            cwd=ROOT,
            env={**env, "LOAD_PLAN": str(plan_file), "LOAD_REPORT": str(report_file)},
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        output = (result.stdout + result.stderr)[-4000:]
        if not report_file.exists():
            raise RuntimeError(f"locust wrote no report (exit {result.returncode}):\n{output}")
        report: dict[str, Any] = json.loads(report_file.read_text())
        report["locust_output"] = output
        report["logs"] = {name: stack.log(name) for name in ("gunicorn", "worker")}
    timings["total_s"] = round(time.monotonic() - started, 1)
    report["timings"] = timings
    return report


def collect_static(env: dict[str, str]) -> None:
    """Production static files (hashed names, compressed) in VAR_DIR, collected again only when
    a file under static/ is newer than the manifest: compressing them all takes half a minute
    on a busy machine, longer than the CI run itself."""
    manifest = Path(env["VAR_DIR"]) / "staticfiles" / "staticfiles.json"
    newest = max(path.stat().st_mtime for path in (ROOT / "static").rglob("*") if path.is_file())
    if manifest.exists() and manifest.stat().st_mtime > newest:
        return
    subprocess.run(  # noqa: S603 (manage.py, fixed arguments)
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"],
        cwd=ROOT, env=env, check=True,
    )  # fmt: skip


# --- afterwards: the counters -----------------------------------------------------------------


def check(plan: dict[str, Any], report: dict[str, Any]) -> list[str]:
    """What is wrong: an empty list when every counter agrees with what locust saw."""
    from guestlinks.models import GuestLink, GuestLinkAccess
    from studies.models import Instance, Study
    from uploadlinks.models import Upload, UploadLink

    problems = []
    if report["failures"]:
        problems.append(f"{report['failures']} failed requests: {report['errors']}")
    for name, log in report["logs"].items():
        if "Traceback" in log or " ERROR" in log:
            problems.append(f"the {name} log holds errors:\n{log[-3000:]}")
    counts = report["counts"]
    for kind in ("open", "limited"):
        link = GuestLink.objects.get(pk=plan["guest_links"][kind]["id"])
        opened = counts.get(f"guest {kind}: opened", 0)
        accesses = GuestLinkAccess.objects.filter(link=link, outcome="opened").count()
        if not (link.use_count == opened == accesses):
            problems.append(
                f"guest link {kind}: use_count {link.use_count}, locust saw {opened} opened, "
                f"the access log {accesses}"
            )
    # The limited link: every attempt opened it until its uses ran out, and none after. A
    # loaded machine may not get through max_uses attempts in a short run: then all opened.
    limited = plan["guest_links"]["limited"]
    opened = counts.get("guest limited: opened", 0)
    attempts = opened + sum(v for k, v in counts.items() if k.startswith("guest limited: refused"))
    if opened != min(limited["max_uses"], attempts):
        problems.append(
            f"the limited link (max_uses {limited['max_uses']}) was opened {opened} times "
            f"in {attempts} attempts"
        )
    finished = counts.get("uploads finished", 0)
    done = Upload.objects.filter(status=Upload.Status.COMPLETED)
    uploads = done.filter(link_id=plan["upload_link"]["id"]).count()
    link_uses = UploadLink.objects.get(pk=plan["upload_link"]["id"]).use_count
    uids = report["uploaded_study_uids"]
    studies = Study.objects.filter(study_instance_uid__in=uids).count()
    instances = Instance.objects.filter(series__study__study_instance_uid__in=uids).count()
    all_studies = Study.objects.count()
    expected_instances = finished * plan["files_per_upload"]
    if not (finished == uploads == link_uses == studies == len(uids)):
        problems.append(
            f"uploads: locust finished {finished}, done in the database {uploads}, the link's "
            f"use_count {link_uses}, studies {studies}, study UIDs {len(uids)}"
        )
    if instances != expected_instances:
        problems.append(f"uploaded instances: {instances}, not {expected_instances}")
    if all_studies != plan["studies_before"] + finished:
        problems.append(f"{all_studies} studies, not {plan['studies_before']} + {finished}")
    if not finished:
        problems.append("no upload finished")
    return problems


def table(report: dict[str, Any]) -> str:
    lines = [
        f"{'page':34} {'requests':>8} {'fail':>5} {'req/s':>7} {'median ms':>10} {'p95 ms':>7}"
    ]
    for name, page in report["pages"].items():
        lines.append(
            f"{name:34} {page['requests']:>8} {page['failures']:>5} {page['per_second']:>7} "
            f"{round(page['median_ms']):>10} {round(page['p95_ms']):>7}"
        )
    lines.append(
        f"{'all':34} {report['requests']:>8} {report['failures']:>5} {report['per_second']:>7} "
        f"{'':>10} {report['p95_ms']:>7}"
    )
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    load = os.getloadavg()
    return {
        "cpus": os.cpu_count(),
        "load_average_1_5_15": [round(x, 2) for x in load],
        "python": sys.version.split()[0],
    }


# --- make bench -------------------------------------------------------------------------------


def _own_database(url: str) -> str:
    parsed = urlparse(url)
    name = (parsed.path.lstrip("/") or "cimar") + "_load"
    import psycopg

    admin = urlunparse(parsed._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')
    return urlunparse(parsed._replace(path="/" + name))


def _drop_database(url: str) -> None:
    import psycopg

    parsed = urlparse(url)
    admin = urlunparse(parsed._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{parsed.path.lstrip("/")}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--users", type=int, default=12)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL", "")
    broker = os.environ.get("CELERY_BROKER_URL") or os.environ.get("REDIS_URL", "")
    if not url.startswith(("postgres://", "postgresql://")) or not broker:
        print("Load: skipped (needs DATABASE_URL=postgres://... and REDIS_URL or a broker)")
        return
    database = _own_database(url)
    try:
        with tempfile.TemporaryDirectory(prefix="cimar-load-") as tmp:
            workdir = Path(tmp)
            env = stack_env(database, broker, workdir, secrets.token_urlsafe(50))
            names = ("DATABASE_URL", "MEDIA_ROOT", "SECRET_KEY", "LOG_LEVEL")
            os.environ.update({k: env[k] for k in names})
            os.environ["CELERY_TASK_ALWAYS_EAGER"] = "1"  # prepare: no worker yet
            from bench import setup_django

            setup_django()
            from django.core.management import call_command
            from django.db import connections

            call_command("migrate", verbosity=0)
            from django.conf import settings

            settings.CELERY_TASK_ALWAYS_EAGER = True
            plan = prepare()
            connections.close_all()
            print(
                f"Load: {args.users} people for {args.seconds} s against gunicorn "
                f"({args.workers} workers) + a Celery worker ...",
                flush=True,
            )
            report = run_load(
                plan, env, workdir, seconds=args.seconds, users=args.users, workers=args.workers
            )
            problems = check(plan, report)
    finally:
        from django.db import connections

        connections.close_all()
        _drop_database(database)
    print(table(report))
    print(f"counts: {report['counts']}")
    print(f"machine: {machine()}")
    print("counters: exact" if not problems else "PROBLEMS:\n" + "\n".join(problems))
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%d-%H%M%S")
    saved = {
        k: v for k, v in report.items() if k not in ("logs", "locust_output", "uploaded_study_uids")
    }
    result = {
        "when": stamp,
        "seconds": args.seconds,
        "users": args.users,
        "gunicorn_workers": args.workers,
        "machine": machine(),
        "problems": problems,
        **saved,
    }
    for name in (f"load-{stamp}.json", "load-latest.json"):
        (RESULTS / name).write_text(json.dumps(result, indent=1))
    if problems:
        sys.exit(1)


if __name__ == "__main__":
    main()
