"""The load test of `make bench` (bench/load.py), shorter: 20 seconds, 6 people, 2 gunicorn
workers and a Celery worker on the test's PostgreSQL database and Redis. Zero failed requests,
no traceback in the logs, and every counter exact afterwards: the guest link with max_uses 2
opened by exactly 2 sessions (every attempt, if fewer tried), use counts and access logs equal
to the opens locust saw, every finished upload a study with all its instances. Throughput is
not asserted (bench/ prints it). Runs on the PostgreSQL + Redis leg; skipped otherwise.
"""

import secrets

import pytest

from bench.load import check, prepare, run_load, stack_env, table
from tests.integration.realworld import needs_real_services, worker_database_url

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
SECONDS, USERS, LIMITED_USES = 20, 6, 2


def test_a_short_load_run_has_no_errors_and_exact_counters(settings, tmp_path):
    needs_real_services(settings)
    settings.CELERY_TASK_ALWAYS_EAGER = True  # prepare: its pre-rendering runs here, not queued
    # The stack runs in production mode, which refuses the published development key; link
    # tokens are derived from the key, so prepare uses the stack's.
    settings.SECRET_KEY = secrets.token_urlsafe(50)
    plan = prepare(limited_uses=LIMITED_USES, studies_count=3, slices=6)
    env = stack_env(
        worker_database_url(), settings.CELERY_BROKER_URL, tmp_path, settings.SECRET_KEY
    )
    report = run_load(plan, env, tmp_path, seconds=SECONDS, users=USERS, workers=2)
    problems = check(plan, report)
    details = f"{table(report)}\n{report['timings']}\n{report['locust_output']}"
    assert not problems, "\n".join(problems) + "\n" + details
    print(details)
    # Every kind of person got through.
    pages = report["pages"]
    for page in ("clinician: study", "frame (guest)", "upload: finish"):
        assert pages.get(page, {}).get("requests"), f"nobody reached {page}:\n{table(report)}"
