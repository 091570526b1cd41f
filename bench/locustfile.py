"""The people of the load test (bench/load.py), as locust users.

Clinicians sign in and browse: the worklist, a study, its viewer and some of its frames.
Recipients open a guest link through the gate with its password, in a new session each time,
and scroll every frame of the series. Uploaders open the upload link with its password and
upload a new study of small synthetic DICOM files in chunks, as the upload page's script does.

What to use comes from the plan (LOAD_PLAN, JSON written by bench/load.py); what happened is
written to LOAD_REPORT when the run stops: locust's figures per page, and the counts that the
database must agree with afterwards. Any answer other than the expected one is a failure.
"""

from __future__ import annotations

import json
import os
import random
import re
import sys
import threading
from pathlib import Path
from typing import Any

from locust import HttpUser, between, events, task

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pydicom.uid import generate_uid  # noqa: E402

from testkit.dicom_files import dataset, phantom, to_bytes  # noqa: E402

PLAN: dict[str, Any] = json.loads(Path(os.environ["LOAD_PLAN"]).read_text())
COUNTS: dict[str, int] = {}
_lock = threading.Lock()
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def count(name: str, n: int = 1) -> None:
    with _lock:
        COUNTS[name] = COUNTS.get(name, 0) + n


def csrf_of(page: str) -> str:
    found = CSRF.search(page)
    return found.group(1) if found else ""


class Clinician(HttpUser):
    weight = 3
    wait_time = between(0.2, 1.0)

    def on_start(self) -> None:
        count("clinicians")
        self.username = PLAN["clinicians"][COUNTS["clinicians"] % len(PLAN["clinicians"])]
        page = self.client.get("/accounts/login/", name="login page").text
        with self.client.post(
            "/accounts/login/",
            {
                "username": self.username,
                "password": PLAN["password"],
                "csrfmiddlewaretoken": csrf_of(page),
            },
            name="login",
            allow_redirects=False,
            catch_response=True,
        ) as response:
            if response.status_code != 302:
                response.failure(f"login answered {response.status_code}")

    @task
    def browse(self) -> None:
        self.client.get(PLAN["worklist"], name="clinician: worklist")
        study = random.choice(PLAN["studies"])  # noqa: S311 (which page, not a secret)
        self.client.get(study["page"], name="clinician: study")
        self.client.get(study["viewer"], name="clinician: viewer")
        for frame in random.sample(study["frames"], 3):  # noqa: S311
            self.client.get(frame, name="frame (clinician)")


class Recipient(HttpUser):
    weight = 3
    wait_time = between(0.2, 1.0)

    @task
    def open_and_scroll(self) -> None:
        kind = random.choice(["open", "limited"])  # noqa: S311 (which link, not a secret)
        link = PLAN["guest_links"][kind]
        self.client.cookies.clear()  # a new recipient: a new session
        with self.client.get(link["url"], name=f"guest: gate ({kind})", catch_response=True) as r:
            if r.status_code == 404 and kind == "limited":
                r.success()  # used up: the one page for a link that cannot be used
                count("guest limited: refused at the gate page")
                return
            if r.status_code != 200:
                r.failure(f"gate page answered {r.status_code}")
                return
            token = csrf_of(r.text)
        with self.client.post(
            link["url"],
            {"password": link["password"], "csrfmiddlewaretoken": token},
            name=f"guest: open ({kind})",
            allow_redirects=False,
            catch_response=True,
        ) as r:
            if r.status_code == 303:
                count(f"guest {kind}: opened")
            elif r.status_code == 404 and kind == "limited":
                r.success()  # the last use went to someone else between the page and the POST
                count("guest limited: refused at open")
                return
            else:
                r.failure(f"open answered {r.status_code}")
                return
            viewer = r.headers["Location"]
        self.client.get(viewer, name="guest: viewer")
        for frame in link["frames"]:  # scrolling through the series
            self.client.get(frame, name="frame (guest)")


class Uploader(HttpUser):
    weight = 1
    wait_time = between(0.5, 2.0)

    @task
    def upload_a_study(self) -> None:
        link = PLAN["upload_link"]
        self.client.cookies.clear()
        page = self.client.get(link["url"], name="upload: gate").text
        with self.client.post(
            link["url"],
            {"password": link["password"], "csrfmiddlewaretoken": csrf_of(page)},
            name="upload: open",
            allow_redirects=False,
            catch_response=True,
        ) as r:
            if r.status_code != 303:
                r.failure(f"open answered {r.status_code}")
                return
        token = csrf_of(self.client.get("/u/upload/", name="upload: page").text)
        study_uid, series_uid = generate_uid(), generate_uid()
        files = [
            to_bytes(
                dataset(
                    phantom(16, 16),
                    StudyInstanceUID=study_uid,
                    SeriesInstanceUID=series_uid,
                    PatientName="Load^Test",
                    PatientID="LOAD-1",
                    InstanceNumber=n + 1,
                )
            )
            for n in range(PLAN["files_per_upload"])
        ]
        headers = {"X-CSRFToken": token}
        started = self.client.post(
            "/u/upload/start/",
            json={"files": [{"name": f"IMG{n:04d}", "size": len(d)} for n, d in enumerate(files)]},
            headers=headers,
            name="upload: start",
        )
        if started.status_code != 201:
            return
        plan = started.json()
        for target, data in zip(plan["files"], files, strict=True):
            self.client.post(
                f"{target['url']}?offset=0",
                data=data,
                headers={**headers, "Content-Type": "application/octet-stream"},
                name="upload: chunk",
            )
        finished = self.client.post(
            plan["finish"],
            {"name": "Load Tester", "csrfmiddlewaretoken": token},
            headers=headers,
            name="upload: finish",
        )
        if finished.status_code == 200:
            count("uploads finished")
            count("files uploaded", len(files))
            with _lock:
                UPLOADED.append(study_uid)


UPLOADED: list[str] = []


@events.test_stop.add_listener
def report(environment: Any, **kwargs: Any) -> None:
    stats = environment.stats
    seconds = max(stats.last_request_timestamp - stats.start_time, 1e-9)
    pages = {}
    for (name, method), entry in sorted(stats.entries.items()):
        pages[name] = {
            "method": method,
            "requests": entry.num_requests,
            "failures": entry.num_failures,
            "per_second": round(entry.num_requests / seconds, 2),
            "median_ms": round(entry.median_response_time or 0),
            "p95_ms": entry.get_response_time_percentile(0.95),
        }
    errors = [
        {"name": e.name, "method": e.method, "error": str(e.error), "occurrences": e.occurrences}
        for e in stats.errors.values()
    ]
    Path(os.environ["LOAD_REPORT"]).write_text(
        json.dumps(
            {
                "seconds": round(seconds, 1),
                "requests": stats.total.num_requests,
                "failures": stats.total.num_failures,
                "per_second": round(stats.total.num_requests / seconds, 1),
                "p95_ms": stats.total.get_response_time_percentile(0.95),
                "pages": pages,
                "errors": errors,
                "counts": COUNTS,
                "uploaded_study_uids": UPLOADED,
            },
            indent=1,
        )
    )
