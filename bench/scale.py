"""The worklist pages at archive sizes: `make bench` (section "Scale"), or on its own:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/cimar .venv/bin/python -m bench.scale \
        [--million] [--reuse] [--sizes 1000,10000] [--explain]

Needs PostgreSQL (the sizes it is about): it makes its own database, `<name>_scale` beside the
one DATABASE_URL names, migrates it, creates the demo accounts and worklists, then grows the
archive with `seed_demo --studies`' bulk seeder to 1,000, 10,000 and 100,000 studies (and
1,000,000 with --million), measuring at each size the server time (Django test client, in
process: the view, its queries and the template, no network) and the number of queries of:
the worklist page, searches by name, patient ID and accession number, filters, sorts, a deep
page, the study page with many guest links and shares, and the guest-link list. The `demo`
user is a member of 50 worklists; half of the studies are in Radiology.
"""

from __future__ import annotations

import os
import secrets
import statistics
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parent.parent
REPEAT = 30
EXPLAIN = "--explain" in sys.argv  # also print each page's slowest query's plan and buffers
LINKS_AND_SHARES = 200  # on the one study whose page is measured


def _database() -> str:
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        return ""
    parsed = urlparse(url)
    name = (parsed.path.lstrip("/") or "cimar") + "_scale"
    os.environ["DATABASE_URL"] = urlunparse(parsed._replace(path="/" + name))
    return name


def _fresh_database(name: str) -> None:
    import psycopg

    admin = urlparse(os.environ["DATABASE_URL"])._replace(path="/postgres")
    with psycopg.connect(urlunparse(admin), autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
        connection.execute(f'CREATE DATABASE "{name}"')


def timed(client: Any, path: str, repeat: int = REPEAT) -> dict[str, float | int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    times, cpu = [], []
    queries = 0
    for _ in range(repeat):
        connection.queries_log.clear()  # a full log (9000) would count every request as 0
        with CaptureQueriesContext(connection) as captured:
            started, started_cpu = time.perf_counter(), time.thread_time()
            response = client.get(path)
            times.append((time.perf_counter() - started) * 1000)
            # This process's CPU only (not the database's, nor time waiting for a core): on a
            # loaded machine the wall time above includes the wait, this does not.
            cpu.append((time.thread_time() - started_cpu) * 1000)
        if response.status_code != 200:
            raise RuntimeError(f"{path}: {response.status_code}")
        queries = len(captured)
    times.sort()
    cpu.sort()
    return {
        "median_ms": round(statistics.median(times), 1),
        "p95_ms": round(times[int(len(times) * 0.95) - 1], 1),
        "cpu_p95_ms": round(cpu[int(len(cpu) * 0.95) - 1], 1),
        "queries": queries,
    }


def _plan_nodes(node: dict[str, Any]) -> list[dict[str, Any]]:
    return [node] + [n for child in node.get("Plans", []) for n in _plan_nodes(child)]


def explain(client: Any, path: str) -> dict[str, Any]:
    """Every query of one request, run again under EXPLAIN (ANALYZE, BUFFERS): their time in
    the database and buffers (pages found in PostgreSQL's cache / read from the operating
    system), and the scans of the costliest one (a sequential scan of a big table shows up)."""
    import json

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.get(path)  # warm
    with CaptureQueriesContext(connection) as captured:
        client.get(path)
    plans = []
    with connection.cursor() as cursor:
        for query in captured.captured_queries:
            if not query["sql"].lstrip().upper().startswith("SELECT"):
                continue
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + query["sql"])
            (plan,) = cursor.fetchone()
            plans.append((json.loads(plan) if isinstance(plan, str) else plan)[0])
    costliest = max(plans, key=lambda plan: plan["Execution Time"])
    scans = sorted(
        {
            f"{n['Node Type']} {n.get('Index Name') or n.get('Relation Name', '')}".strip()
            for n in _plan_nodes(costliest["Plan"])
            if "Scan" in n["Node Type"]
        }
    )
    return {
        "ms": round(sum(plan["Execution Time"] for plan in plans), 1),
        "costliest_ms": round(costliest["Execution Time"], 1),
        "hit": sum(plan["Plan"].get("Shared Hit Blocks", 0) for plan in plans),
        "read": sum(plan["Plan"].get("Shared Read Blocks", 0) for plan in plans),
        "scans": scans,
    }


def measure(client: Any, worklist: Any, study: Any) -> dict[str, dict[str, float | int]]:
    from studies.models import WorklistEntry
    from studies.selectors import SORTS, _cursor, worklist_entries

    base = f"/worklists/{worklist.public_id}/"
    entries = WorklistEntry.objects.filter(worklist=worklist).count()
    deep = worklist_entries(worklist=worklist, sort="date").values_list(
        *[field for field, _ in SORTS["date"]]
    )[max(0, entries * 3 // 4) : max(0, entries * 3 // 4) + 1]
    row = dict(zip([field for field, _ in SORTS["date"]], deep[0], strict=True))
    cursor = _cursor(entries * 3 // 4 // 25 + 1, SORTS["date"], row)
    paths = {
        "worklist page": base,
        "search: name": base + "?q=smith",
        "search: name and given name": base + "?q=taylor+oliver",
        "search: description word": base + "?q=angiogram",
        "search: patient ID prefix": base + "?q=SC00012",
        "search: accession number": base + "?q=ACC000000042",
        "filter: modality and dates": base + "?modality=CT&date_from=2020-01-01&date_to=2021-12-31",
        "sort: patient name": base + "?sort=name",
        "sort: oldest first": base + "?sort=-date",
        "sort: recently added": base + "?sort=added",
        "deep page (3/4 down)": base + f"?after={cursor}",
        f"study page ({LINKS_AND_SHARES} links, shares)": (
            f"/studies/{study.public_id}/?worklist={worklist.public_id}"
        ),
        "guest-link panel": (
            f"/studies/{study.public_id}/?worklist={worklist.public_id}&panel=guest-links"
        ),
    }
    if EXPLAIN:
        print("\nEach page's queries under EXPLAIN (ANALYZE, BUFFERS): database ms (all; the")
        print("costliest), buffers hit / read (all), and the scans of the costliest query")
        for name, path in paths.items():
            plan = explain(client, path)
            print(
                f"  {name:30} {plan['ms']:6.1f} {plan['costliest_ms']:6.1f} ms  "
                f"{plan['hit']:>6} / {plan['read']:<4} {', '.join(plan['scans'])}"
            )
    return {name: timed(client, path) for name, path in paths.items()}


def _links_and_shares(study: Any, worklist: Any, user: Any, others: list[Any]) -> None:
    """LINKS_AND_SHARES guest links (through the service) and shares on one study."""
    from guestlinks.models import GuestLink
    from guestlinks.services import guestlink_create
    from sharing.models import Share

    for _ in range(GuestLink.objects.filter(study=study).count(), LINKS_AND_SHARES):
        guestlink_create(actor=user, study=study, worklist=worklist, max_uses=5)
    have = Share.objects.filter(study=study).count()
    Share.objects.bulk_create(
        Share(
            study=study,
            shared_by=user,
            source_worklist=worklist,
            channel=Share.Channel.GROUP,
            target_worklist=others[n % len(others)],
        )
        for n in range(have, LINKS_AND_SHARES)
    )


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cimar_share.settings")
    sys.path.insert(0, str(ROOT))
    name = _database()
    if not name:
        print("Scale: skipped (needs DATABASE_URL=postgres://...; it makes its own database)")
        return
    million = "--million" in sys.argv
    if "--reuse" not in sys.argv:  # --reuse: grow the database of the last run instead
        _fresh_database(name)
    # Production settings: no debug pages or template debugging in the figures.
    os.environ.setdefault("DJANGO_DEBUG", "0")
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
    os.environ.setdefault("ALLOWED_HOSTS", "testserver")
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.test import Client

    # Static names without collectstatic's manifest (the page's own work is what is measured).
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    call_command("migrate", verbosity=0)
    from demo.management.commands.seed_demo import (
        EMERGENCY,
        FULL,
        NEURO_MDT,
        ORG_DEMO,
        RADIOLOGY,
        Command,
        _member,
    )
    from demo.scale import scale_worklists, seed_scale
    from studies.models import Study
    from worklists.models import Role

    worklists = Command()._accounts()
    user = get_user_model().objects.get(username="demo")
    targets = scale_worklists(
        [worklists[key] for key in (RADIOLOGY, EMERGENCY, NEURO_MDT, ORG_DEMO)],
        organisation=worklists[ORG_DEMO].organisation,
        ensure_member=lambda w: _member(user, w, Role.objects.get(name=FULL)),
    )
    client = Client()
    client.force_login(user)
    sizes = [1_000, 10_000, 100_000] + ([1_000_000] if million else [])
    if "--sizes" in sys.argv:
        sizes = [int(size) for size in sys.argv[sys.argv.index("--sizes") + 1].split(",")]
    results: dict[int, dict[str, Any]] = {}
    for size in sizes:
        started = time.monotonic()
        seed_scale(size, targets)
        seeded = time.monotonic() - started
        study = Study.objects.filter(entries__worklist=targets[0]).order_by("id").first()
        _links_and_shares(study, targets[0], user, targets[1:])
        load = " ".join(f"{v:.1f}" for v in os.getloadavg())
        print(
            f"Scale: {size} studies (seeded in {seeded:.1f} s, load {load}), measuring ...",
            flush=True,
        )
        results[size] = {"seed_seconds": round(seeded, 1), **measure(client, targets[0], study)}
    print_report(results)


def print_report(results: dict[int, dict[str, Any]]) -> None:
    sizes = list(results)
    print("\nWorklist pages for a user in 50 worklists (PostgreSQL; p95 ms of server time, wall /")
    print("this process's CPU (without the database's) / queries)")
    print(f"{'':32}" + "".join(f"{size:>22,}" for size in sizes))
    first = results[sizes[0]]
    for name in first:
        if name == "seed_seconds":
            continue
        cells = "".join(
            f"{results[s][name]['p95_ms']:>9.1f} /{results[s][name]['cpu_p95_ms']:>6.1f} / "
            f"{results[s][name]['queries']:<3}"
            for s in sizes
        )
        print(f"{name:32}{cells}")
    print(f"load average at the end: {' '.join(f'{v:.1f}' for v in os.getloadavg())}")
    print(
        f"{'seed (s, cumulative step)':32}"
        + "".join(f"{results[s]['seed_seconds']:>22}" for s in sizes)
    )


if __name__ == "__main__":
    main()
