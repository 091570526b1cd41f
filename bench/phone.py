"""`make bench`, phone on slow 4G: the guest viewer as a recipient on a phone sees it.

Chromium (Debian's, through Playwright) with a 390x844 phone viewport (3 device pixels per CSS
pixel, touch) and DevTools network emulation (`Network.emulateNetworkConditions`: 150 ms round
trip, 1.6 Mbit/s down, 750 kbit/s up), against gunicorn in production mode (static files
compressed and served by WhiteNoise). For each study, in a fresh browser context each run:

- first image: from the click on "Open" (the password posted) until the image is on screen;
- full series: from the same click until every slice of the series is loaded (the viewer's
  slider says so in `data-loaded`);
- window/level step: a drag step of the W/L tool until the new window is painted, with the CPU
  slowed 4x (DevTools `Emulation.setCPUThrottlingRate`), as a mid-range phone;
- what was fetched before the first image (requests and bytes).

Studies: the demo's 512x512 CT (one series of 40 slices, from `demo.synthetic`) and a
2048x2048 12-bit radiograph. Run on its own: `.venv/bin/python -m bench.phone`.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
RUNS = int(os.environ.get("BENCH_PHONE_RUNS", "3"))
GUEST_PASSWORD = "phone-bench-7"
SLOW_4G = {
    "offline": False,
    "latency": 150,  # ms, added to every request's round trip
    "downloadThroughput": 1.6e6 / 8,  # bytes/s
    "uploadThroughput": 750e3 / 8,
}
CPU_SLOWDOWN = 4
PHONE = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 3,
    "is_mobile": True,
    "has_touch": True,
    "user_agent": "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
    "locale": "en-GB",
}

PREPARE = """
import json, sys
import django
django.setup()
from accounts.models import Organisation, User
from guestlinks.services import guestlink_create
from studies.models import Study
from studies.services import study_ingest_paths
from worklists.models import Role, Worklist, product_permissions
from worklists import services

organisation = Organisation.objects.create(name="Phone Bench Hospital")
user = User.objects.create_user(username=sys.argv[1], password=sys.argv[2],
                                organisation=organisation)
worklist = Worklist.objects.create(organisation=organisation, kind="location", name="Bench")
role = Role.objects.create(name="Sharer")
role.permissions.set(product_permissions().filter(
    codename__in=["view_studies", "create_guest_links"]))
services.role_sync_permissions(role=role)
services.membership_grant(actor=None, user=user, worklist=worklist, role=role)
out = {}
for name, path in json.loads(sys.argv[3]).items():
    before = set(Study.objects.values_list("pk", flat=True))
    report = study_ingest_paths(actor=None, worklist=worklist, paths=[path])
    assert not report.rejected, report.rejected
    study = Study.objects.exclude(pk__in=before).get()
    links = [
        guestlink_create(actor=user, study=study, worklist=worklist, password=sys.argv[4])
        for _ in range(int(sys.argv[5]))
    ]
    out[name] = {"paths": [link.get_absolute_url() for link in links],
                 "slices": study.number_of_instances}
print(json.dumps(out))
"""


def radiograph(path: Path) -> Path:
    """A 2048x2048 12-bit chest radiograph phantom (DX, MONOCHROME2, file window)."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import (
        DigitalXRayImageStorageForPresentation,
        ExplicitVRLittleEndian,
        generate_uid,
    )

    size = 2048
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    rng = np.random.default_rng(7)
    body = np.exp(-(((xx - 0.5) / 0.42) ** 6 + ((yy - 0.55) / 0.48) ** 6))
    lungs = sum(
        np.exp(-(((xx - cx) / 0.15) ** 2 + ((yy - 0.48) / 0.27) ** 2) * 3) for cx in (0.32, 0.68)
    )
    ribs = (np.sin(yy * 60 + np.abs(xx - 0.5) * 12) > 0.7) * (lungs > 0.3) * 0.18
    spine = np.exp(-(((xx - 0.5) / 0.05) ** 2)) * body
    image = 300 + 2600 * body - 1500 * lungs * body + 900 * ribs + 900 * spine
    image += rng.normal(0, 10, image.shape)
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = DigitalXRayImageStorageForPresentation
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.Modality, ds.SeriesNumber, ds.InstanceNumber = "DX", 1, 1
    ds.StudyDate, ds.StudyDescription = "20260101", "Chest PA"
    ds.PatientName, ds.PatientID, ds.PatientBirthDate = "Phone^Bench", "PHONE-DX", "19700101"
    ds.Rows = ds.Columns = size
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.WindowCenter, ds.WindowWidth = 2000, 3600
    ds.PixelData = np.clip(image, 0, 4095).astype("<u2").tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


def demo_ct(folder: Path) -> Path:
    """The demo's CT: a 512x512 chest, one series of 40 slices."""
    import datetime as dt

    from demo.synthetic import Patient, write_study

    write_study(
        folder,
        patient=Patient("Phone^Bench", "PHONE-CT", dt.date(1970, 1, 1), "O"),
        study_date=dt.date(2026, 1, 1),
        modality="CT",
        kind="chest",
        series_count=1,
        slices=40,
        size=512,
        uid_key="phone-bench-ct",
    )
    return folder


# In the page: the slice on screen, loaded, and (when the viewer says so) the whole series.
FIRST_IMAGE = """() => {
  const image = document.getElementById('viewer-image');
  return !!image && !image.hidden && image.complete && image.naturalWidth > 0;
}"""
SERIES_LOADED = """() => {
  const slider = document.getElementById('viewer-slider');
  return slider && slider.dataset.loaded && +slider.dataset.loaded >= +slider.max;
}"""
# Where the time went (BENCH_PHONE_DEBUG=1): the navigation and each resource, in ms.
TIMELINE = """() => {
  const nav = performance.getEntriesByType('navigation')[0];
  const rows = [['navigation', 0, Math.round(nav.redirectEnd), Math.round(nav.responseStart),
                 Math.round(nav.responseEnd), nav.transferSize]];
  for (const r of performance.getEntriesByType('resource')) {
    rows.push([r.name.slice(-60), Math.round(r.startTime), Math.round(r.requestStart),
               Math.round(r.responseStart), Math.round(r.responseEnd), r.transferSize]);
  }
  for (const m of performance.getEntriesByType('mark'))
    rows.push([m.name, Math.round(m.startTime)]);
  return rows.map((r) => r.join('  ')).join('\\n');
}"""
# One drag step of the W/L tool, until the next frame is painted; median of `steps`.
WINDOW_STEPS = """async (steps) => {
  const stage = document.getElementById('viewer-stage');
  const box = stage.getBoundingClientRect();
  let x = box.left + box.width / 2, y = box.top + box.height / 2;
  const event = (type) => new PointerEvent(type, {pointerId: 7, pointerType: 'touch',
    isPrimary: true, bubbles: true, clientX: x, clientY: y, button: 0});
  const frame = () => new Promise((done) => requestAnimationFrame(() => setTimeout(done, 0)));
  stage.dispatchEvent(event('pointerdown'));
  const times = [];
  for (let i = 0; i < steps; i++) {
    x += 4; y += 3;
    const start = performance.now();
    stage.dispatchEvent(event('pointermove'));
    await frame();
    times.push(performance.now() - start);
  }
  stage.dispatchEvent(event('pointerup'));
  times.sort((a, b) => a - b);
  return {median: times[times.length >> 1], max: times[times.length - 1],
          exact: stage.dataset.windowing || 'server'};
}"""


def one_run(browser: Any, base: str, path: str) -> dict[str, Any]:
    context = browser.new_context(**PHONE)
    try:
        page = context.new_page()
        cdp = context.new_cdp_session(page)
        cdp.send("Network.enable")
        cdp.send("Network.setCacheDisabled", {"cacheDisabled": False})
        cdp.send("Network.emulateNetworkConditions", SLOW_4G)
        requests: list[tuple[float, str]] = []
        page.on("request", lambda r: requests.append((time.perf_counter(), r.url)))
        page.goto(base + path)
        page.get_by_label("Password").fill(GUEST_PASSWORD)
        requests.clear()
        start = time.perf_counter()
        page.get_by_role("button", name="Open study").click()
        page.wait_for_function(FIRST_IMAGE, timeout=60_000, polling="raf")
        first = time.perf_counter() - start
        before_first = [url for when, url in requests if when - start <= first]
        if os.environ.get("BENCH_PHONE_DEBUG"):
            print(page.evaluate(TIMELINE), flush=True)
        series = None
        if page.evaluate("() => 'loaded' in document.getElementById('viewer-slider').dataset"):
            page.wait_for_function(SERIES_LOADED, timeout=120_000, polling="raf")
            series = time.perf_counter() - start
        gate, shown = page.evaluate(
            """() => [performance.getEntriesByType('navigation')[0].redirectEnd,
                (performance.getEntriesByName('viewer:first-image')[0] || {}).startTime]"""
        )
        page.get_by_role("button", name="W/L").click()
        page.evaluate(WINDOW_STEPS, 1)  # a window of the user's: drawn once the values are here
        try:
            page.wait_for_function(
                "() => document.getElementById('viewer-stage').dataset.windowing === 'browser'",
                timeout=30_000,
            )
        except Exception:  # noqa: S110 (the server windows: measured as such below)
            pass
        cdp.send("Emulation.setCPUThrottlingRate", {"rate": CPU_SLOWDOWN})
        steps = page.evaluate(WINDOW_STEPS, 15)
        cdp.send("Emulation.setCPUThrottlingRate", {"rate": 1})
        settle = page.evaluate(
            """() => { const i = document.getElementById('viewer-image');
            return new Promise((done) => { const t = performance.now();
              const s = document.getElementById('viewer-stage');
              if (s.dataset.windowing === 'browser') return done(0);
              i.addEventListener('load', () => done(performance.now() - t), {once: true});
              setTimeout(() => done(null), 20000); }); }"""
        )
        return {
            "first_image_ms": round(first * 1000),
            "gate_ms": round(gate),
            "after_gate_ms": round(shown - gate) if shown else None,
            "series_ms": round(series * 1000) if series else None,
            "wl_step_ms": round(steps["median"], 1),
            "wl_step_max_ms": round(steps["max"], 1),
            "wl_windowing": steps["exact"],
            "wl_exact_after_drag_ms": None if settle is None else round(settle),
            "requests_before_first_image": len(before_first),
            "first_requests": [u.replace(base, "")[:90] for u in before_first],
        }
    finally:
        context.close()


def measure(runs: int = RUNS) -> dict[str, Any] | None:
    if not os.path.exists(CHROMIUM):
        return None
    from playwright.sync_api import sync_playwright

    from bench.run import Server

    workdir = Path(tempfile.mkdtemp(prefix="cimar-phone-"))
    try:
        files = {
            "demo CT 512x512, 40 slices": demo_ct(workdir / "ct"),
            "radiograph 2048x2048": radiograph(workdir / "dx.dcm"),
        }
        prepare = PREPARE.replace("sys.argv[4]", repr(GUEST_PASSWORD)).replace(
            "sys.argv[5]", str(runs)
        )
        server = Server(workdir, files, prepare=prepare, workers=2)
        try:
            base = f"http://127.0.0.1:{server.port}"
            figures: dict[str, Any] = {}
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
                )
                for name, made in server.objects.items():
                    rows = [one_run(browser, base, path) for path in made["paths"]]
                    figures[name] = summarise(rows, made["slices"])
                browser.close()
        finally:
            server.stop()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return figures


def summarise(rows: list[dict[str, Any]], slices: int) -> dict[str, Any]:
    def median(key: str) -> float | None:
        values = [row[key] for row in rows if row[key] is not None]
        return round(statistics.median(values), 1) if values else None

    return {
        "slices": slices,
        "runs": len(rows),
        "first_image_ms": median("first_image_ms"),
        "first_image_each_ms": [row["first_image_ms"] for row in rows],
        "gate_ms": median("gate_ms"),
        "after_gate_ms": median("after_gate_ms"),
        "series_ms": median("series_ms"),
        "wl_step_ms": median("wl_step_ms"),
        "wl_step_max_ms": median("wl_step_max_ms"),
        "wl_windowing": rows[-1]["wl_windowing"],
        "wl_exact_after_drag_ms": median("wl_exact_after_drag_ms"),
        "requests_before_first_image": rows[-1]["requests_before_first_image"],
        "first_requests": rows[-1]["first_requests"],
    }


def password_checks(runs: int = 7) -> dict[str, float]:
    """The gate's password check in process, median ms: a link hash with Django's default
    Argon2 (links made before links/passwords.py; also every account's) and with the link
    hasher (links/passwords.py). Both in this process, so the machine's load hits both alike."""
    from django.contrib.auth.hashers import Argon2PasswordHasher, make_password

    from links.passwords import LINK_PASSWORD_HASHER, link_password_matches

    figures = {}
    for name, hasher in (
        ("default Argon2 (100 MiB, t=2, p=8)", Argon2PasswordHasher()),
        ("link Argon2id (19 MiB, t=2, p=1)", LINK_PASSWORD_HASHER),
    ):
        encoded = make_password(GUEST_PASSWORD, hasher=hasher)
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            assert link_password_matches(GUEST_PASSWORD, encoded)  # (no upgrade stored here)
            times.append((time.perf_counter() - started) * 1000)
        figures[name] = round(statistics.median(times), 1)
    return figures


def print_figures(figures: dict[str, Any] | None) -> None:
    print("\nPhone on slow 4G (390x844 at 3x; 150 ms RTT, 1.6 Mbit/s down, 750 kbit/s up)")
    if figures is None:
        print(f"  skipped: no Chromium at {CHROMIUM}")
        return
    print(
        f"{'':30} {'first image':>12} {'full series':>12} {'W/L step':>9} {'(max)':>7} "
        f"{'requests':>9}"
    )
    for name, row in figures.items():
        series = f"{row['series_ms'] / 1000:10.2f} s" if row["series_ms"] else f"{'n/a':>12}"
        print(
            f"{name:30} {row['first_image_ms'] / 1000:10.2f} s {series} "
            f"{row['wl_step_ms']:6.1f} ms {row['wl_step_max_ms']:5.0f} "
            f"{row['requests_before_first_image']:9d}"
        )
        print(
            f"{'':30} first image per run (ms): {row['first_image_each_ms']}; of which the gate "
            f"(password check and redirect) {row['gate_ms']} ms, then the viewer "
            f"{row['after_gate_ms']} ms; windowing in the {row['wl_windowing']}"
        )
    print(f"  targets: first image <= 1.0 s, full series <= 6 s, W/L step <= 50 ms (CPU /{4})")
    checks = password_checks()
    print(
        "  the gate's password check, in process (median ms): "
        + "; ".join(f"{name} {ms}" for name, ms in checks.items())
    )
    print(f"  load average: {' '.join(f'{v:.1f}' for v in os.getloadavg())}")


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cimar_share.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    figures = measure()
    print_figures(figures)
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
