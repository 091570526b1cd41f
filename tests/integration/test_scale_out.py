"""Done means: two web processes and a worker on one PostgreSQL, Redis and S3-compatible store.

Two gunicorn processes (A and B) and a real Celery worker run as subprocesses against the test
database, the broker and moto's S3 server on loopback. The study's file is in the bucket; the
worker pre-renders it into the bucket's frame cache. Through A's pages, as a browser without
JavaScript would (log in, the share dialog's form and the study page's guest-link panel, each
posted with its page's CSRF token), the owner shares the study and makes a password-protected
guest link, and the guest opens it through A's gate. The guest's viewer and frames, and the
recipient's worklist and frames, are read through B.
Runs on the PostgreSQL + Redis leg; skipped otherwise.
"""

import http.cookiejar
import os
import re
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pytest
from django.conf import settings
from django.db import connection
from django.urls import reverse

from guestlinks.models import GuestLink
from sharing.models import Share
from testkit.dicom_files import dataset
from tests.dicomweb.test_object_storage import BUCKET, free_port, keys, moto_endpoint, s3
from tests.factories import (
    StudyFactory,
    UserFactory,
    WorklistFactory,
    add_to_worklist,
    grant,
    instance_for,
)

__all__ = ["moto_endpoint", "s3"]  # fixtures used here
pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
ROOT = Path(settings.BASE_DIR)
BIN = Path(sys.executable).parent
PASSWORD = "a-long-test-password-42"
LINK_PASSWORD = "blue-heron-42"
WAIT = 90


def database_url() -> str:
    db = settings.DATABASES["default"]
    auth = quote(db.get("USER") or "postgres", safe="")
    if db.get("PASSWORD"):
        auth += ":" + quote(db["PASSWORD"], safe="")
    return (
        f"postgres://{auth}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"
    )


class Browser:
    """A browser without JavaScript: cookies (shared by both processes: a cookie's host is
    127.0.0.1 whatever the port), forms posted with the CSRF token of the page they are on,
    redirects followed (the final URL is kept, as the address bar would show it)."""

    def __init__(self) -> None:
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))
        self.url = ""

    def _open(self, request: urllib.request.Request | str) -> tuple[int, bytes]:
        try:
            with self.opener.open(request, timeout=60) as response:
                self.url = response.url
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()
        except OSError:  # not listening yet
            return 0, b""

    def get(self, url: str) -> tuple[int, bytes]:
        return self._open(url)

    def post_form(
        self, url: str, fields: dict[str, str | list[str]], *, page: str = ""
    ) -> tuple[int, bytes]:
        """Open `page` (default: `url`), then post `fields` to `url` with that page's token."""
        status, body = self.get(page or url)
        assert status == 200, body[-500:]
        token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', body)
        assert token, "no CSRF token on the form"
        data = urllib.parse.urlencode(
            {"csrfmiddlewaretoken": token.group(1).decode(), **fields}, doseq=True
        )
        referer = page or url  # Django checks the Referer of HTTPS posts only; sent as a browser
        request = urllib.request.Request(
            url, data=data.encode(), method="POST", headers={"Referer": referer}
        )
        return self._open(request)


def wait_for(condition, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.3)


@pytest.fixture
def stack(s3, moto_endpoint, tmp_path):  # type: ignore[no-untyped-def]
    if connection.vendor != "postgresql" or not settings.CELERY_BROKER_URL:
        pytest.skip("needs PostgreSQL and a broker")
    settings.CELERY_TASK_ALWAYS_EAGER = False
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "DJANGO_ALLOW"))}
    env.update(
        DATABASE_URL=database_url(),
        CELERY_BROKER_URL=settings.CELERY_BROKER_URL,
        CACHE_URL=settings.CELERY_BROKER_URL,
        STORAGE_BACKEND="storages.backends.s3.S3Storage",
        S3_BUCKET=BUCKET,
        S3_ENDPOINT_URL=moto_endpoint,
        S3_REGION="us-east-1",
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        FRAME_CACHE="storage",
        VAR_DIR=str(tmp_path),
        MEDIA_ROOT=str(tmp_path / "media"),
        GUNICORN_WORKERS="1",
        GUNICORN_THREADS="2",
    )
    ports = [free_port(), free_port()]
    processes = [
        subprocess.Popen(
            [str(BIN / "gunicorn"), "cimar_share.wsgi", "-b", f"127.0.0.1:{port}"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for port in ports
    ]
    processes.append(
        subprocess.Popen(
            [str(BIN / "celery"), "-A", "cimar_share", "worker", "--pool=solo", "-l", "WARNING"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    )
    try:
        for port in ports:
            browser = Browser()
            wait_for(
                lambda port=port, browser=browser: (
                    browser.get(f"http://127.0.0.1:{port}/healthz")[0] == 200
                ),
                f"web on {port}",
            )
        yield [f"http://127.0.0.1:{port}" for port in ports], s3
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)


def test_share_and_guest_link_through_one_process_frames_through_the_other(stack, organisation):
    (web_a, web_b), bucket = stack
    from dicomweb.tasks import prerender_study

    source = WorklistFactory(organisation=organisation, name="Radiology")
    target = WorklistFactory(organisation=organisation, name="Neuro MDT", kind="group")
    owner = UserFactory(username="owner", organisation=organisation)
    owner.set_password(PASSWORD)
    owner.save()
    grant(owner, source)
    recipient = UserFactory(username="recipient", organisation=organisation)
    recipient.set_password(PASSWORD)
    recipient.save()
    grant(recipient, target, "view_studies")
    study = StudyFactory(patient_id="SCALEOUT1")
    add_to_worklist(study, source)
    pixels = (np.arange(64 * 64) % 4096).reshape(64, 64).astype(np.uint16)
    instance = instance_for(dataset(pixels), study=study)
    assert instance.file.name in keys(bucket)

    prerender_study.delay(study.pk)  # the worker renders into the bucket's frame cache
    wait_for(lambda: any(k.startswith("render-cache/") for k in keys(bucket)), "pre-rendering")

    # A: the owner logs in, shares the study by the group worklist's share code through the
    # share dialog's page, and makes a guest link through the study page's guest-link panel.
    owner_browser = Browser()
    status, _ = owner_browser.post_form(
        f"{web_a}{reverse('accounts:login')}", {"username": "owner", "password": PASSWORD}
    )
    assert status == 200 and owner_browser.url.startswith(web_a)
    assert "login" not in owner_browser.url, "the login did not succeed"
    share_url = f"{web_a}{reverse('sharing:share', args=[source.public_id])}"
    status, page = owner_browser.post_form(
        share_url,
        {"study": [str(study.public_id)], "share": "1", "share_codes": target.share_code},
        page=f"{share_url}?study={study.public_id}",
    )
    assert status == 200, page[-1000:]
    assert b"outcome-shared" in page and b"outcome-refused" not in page, page[-2000:]
    assert Share.objects.filter(study=study, target_worklist=target).exists()
    study_page = f"{web_a}{reverse('studies:detail', args=[study.public_id])}"
    study_page += f"?worklist={source.public_id}&panel=guest-links"
    status, page = owner_browser.post_form(
        f"{web_a}{reverse('guestlinks:create', args=[source.public_id, study.public_id])}",
        {"gl-expires": "7d", "gl-max_password_attempts": "5", "gl-password": LINK_PASSWORD},
        page=study_page,
    )
    assert status == 200 and b"Guest link created" in page, page[-2000:]
    urls = re.findall(rb'value="([^"]+)" data-gl-url', page)
    assert len(urls) == 1, urls
    link_url = urls[0].decode()
    # The page gives the site's address (SITE_URL); the guest comes in through A.
    link_path = urllib.parse.urlsplit(link_url).path

    # A: the guest opens the link through the gate with its password.
    guest = Browser()
    status, page = guest.post_form(f"{web_a}{link_path}", {"password": LINK_PASSWORD})
    assert status == 200, page[-500:]
    viewer = reverse("guestlinks:viewer", args=[study.public_id])
    assert guest.url == f"{web_a}{viewer}", guest.url
    frame = reverse(
        "dicomweb:frame_rendered",
        kwargs={
            "study": study.study_instance_uid,
            "series": instance.series.series_instance_uid,
            "instance": instance.sop_instance_uid,
            "frame": 1,
        },
    )
    # B: the guest's viewer and frames, from the process that did not open the link.
    status, page = guest.get(f"{web_b}{viewer}")
    assert status == 200 and instance.sop_instance_uid.encode() in page, page[-1000:]
    status, image = guest.get(f"{web_b}{frame}")
    assert status == 200 and image.startswith(b"\x89PNG")
    assert GuestLink.objects.get().use_count == 1

    # B: the recipient sees the shared study in the group worklist and reads its frames.
    recipient_browser = Browser()
    status, _ = recipient_browser.post_form(
        f"{web_b}{reverse('accounts:login')}", {"username": "recipient", "password": PASSWORD}
    )
    assert status == 200
    status, page = recipient_browser.get(
        f"{web_b}{reverse('worklists:detail', args=[target.public_id])}"
    )
    assert status == 200 and b"SCALEOUT1" in page
    status, image = recipient_browser.get(f"{web_b}{frame}")
    assert status == 200 and image.startswith(b"\x89PNG")
