"""`make bench`: how fast frames render in-process and through the full web stack.

1. In-process, per transfer syntax: ms per frame to decode, window (LUT) and encode.
2. Full stack: gunicorn (2 workers) on a free loopback port with its own SQLite database in a
   temporary directory, a user logged in through the login form, 4 concurrent keep-alive
   clients: median/p95 latency and requests/s of the rendered endpoint, cold (a different
   window on every request, so no cache answers) and cached; plus single-client latency.
3. The viewer's time to first image in Chromium (Playwright), pre-rendered as after ingest.
3b. The guest viewer on a phone over slow 4G (bench/phone.py): first image after the password,
   the whole series, and a window/level step, for the demo CT and a 2048x2048 radiograph.
4. Peak memory of the largest allowed render and of each refused bomb (bench/memory.py).

Each web figure stands beside the in-process render time of the same frame (the ratio shows the
web stack's overhead). Results: bench/results/<timestamp>.json and bench/results/latest.json.
"""

from __future__ import annotations

import http.client
import io
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
PYTHON = sys.executable
USERNAME, PASSWORD = "bench", "bench-password-123"
CLIENTS = 4
COLD_SECONDS, CACHED_SECONDS = 6.0, 5.0


# --- Test images ------------------------------------------------------------------------------


def ct_dataset():  # type: ignore[no-untyped-def]
    """The 512x512 CT slice of ../shared/bench/orthanc-side-by-side.sh."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

    from demo.phantom import bench_slice

    img = bench_slice()
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.Modality = "CT"
    ds.PatientName, ds.PatientID = "Perf^Phantom", "PERF-1"
    ds.Rows = ds.Columns = 512
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 1
    ds.RescaleIntercept, ds.RescaleSlope, ds.WindowCenter, ds.WindowWidth = -1024, 1, 40, 400
    ds.PixelData = (img + 1024).astype("<i2").tobytes()
    return ds


def syntax_files(directory: Path) -> dict[str, Path]:
    """The CT slice in every syntax we can write, plus pydicom's bundled files for the rest."""
    import pydicom
    from PIL import Image
    from pydicom.encaps import encapsulate
    from pydicom.uid import (
        JPEG2000,
        DeflatedExplicitVRLittleEndian,
        ExplicitVRBigEndian,
        JPEG2000Lossless,
        JPEGBaseline8Bit,
        RLELossless,
    )

    files: dict[str, Path] = {}

    def save(name: str, ds) -> None:  # type: ignore[no-untyped-def]
        path = directory / f"{name}.dcm"
        ds.save_as(path, enforce_file_format=True)
        files[name] = path

    save("explicit-le", ct_dataset())
    big = ct_dataset()
    big.file_meta.TransferSyntaxUID = ExplicitVRBigEndian
    big.PixelData = np.frombuffer(ct_dataset().PixelData, "<i2").astype(">i2").tobytes()
    save("explicit-be", big)
    deflated = ct_dataset()
    deflated.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    save("deflated", deflated)
    for name, syntax, options in [
        ("rle", RLELossless, {}),
        ("jpeg2000-lossless", JPEG2000Lossless, {}),
        ("jpeg2000", JPEG2000, {"j2k_cr": [10]}),
    ]:
        ds = ct_dataset()
        ds.compress(syntax, **options)
        save(name, ds)
    grey = np.clip(
        (np.frombuffer(ct_dataset().PixelData, "<i2").reshape(512, 512) - 824) / 2, 0, 255
    )
    out = io.BytesIO()
    Image.fromarray(grey.astype(np.uint8)).save(out, "JPEG", quality=90)
    jpeg = ct_dataset()
    jpeg.BitsAllocated, jpeg.BitsStored, jpeg.HighBit, jpeg.PixelRepresentation = 8, 8, 7, 0
    jpeg.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    jpeg.PixelData = encapsulate([out.getvalue()])
    jpeg["PixelData"].VR = "OB"
    jpeg.RescaleIntercept, jpeg.WindowCenter, jpeg.WindowWidth = 0, 128, 256
    save("jpeg-baseline", jpeg)
    bundled = Path(pydicom.__file__).parent / "data" / "test_files"
    for name, file in [
        ("jpeg-extended (bundled 256x1024)", "JPGExtended.dcm"),
        ("jpeg-lossless (bundled RGB 100x100)", "SC_rgb_jpeg_gdcm.dcm"),
        ("jpeg-ls (bundled 64x64)", "MR_small_jpeg_ls_lossless.dcm"),
    ]:
        files[name] = bundled / file
    return files


def median_ms(function, repeat: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for i in range(repeat):
        start = time.perf_counter()
        function(i)
        times.append((time.perf_counter() - start) * 1000)
    return round(statistics.median(times), 3)


def syntax_figures(source: str) -> dict[str, float | str]:
    """Median ms for one file: decode, window (a new LUT each time), encode, whole render."""
    from studies import rendering

    info = rendering.read_info(source)
    repeat = 15 if info.transfer_syntax.startswith("1.2.840.10008.1.2.4.9") else 40
    pixels = rendering.decode_frame(info, source, 0)
    display = rendering.to_display(info, pixels, 0, None)

    def window(i: int) -> None:
        rendering.to_display(info, pixels, 0, rendering.Window(i * 7.0, 400.0))

    def render(i: int) -> None:
        params = rendering.RenderParams(window=rendering.Window(i * 3.0 + 1, 400.0))
        rendering.render(source, params)

    return {
        "size": f"{info.columns}x{info.rows}",
        "decode_ms": median_ms(lambda i: rendering.decode_frame(info, source, 0), repeat),
        "window_ms": median_ms(window, repeat),
        "encode_png_ms": median_ms(lambda i: rendering.encode(display, rendering.PNG), repeat),
        "encode_jpeg_ms": median_ms(lambda i: rendering.encode(display, rendering.JPEG), repeat),
        "render_png_ms": median_ms(render, repeat),
    }


def in_process(files: dict[str, Path]) -> dict[str, dict[str, float | str]]:
    return {name: syntax_figures(str(path)) for name, path in files.items()}


# --- The full stack ---------------------------------------------------------------------------


PREPARE = """
import json, sys
import django
django.setup()
from django.core.files.base import ContentFile
import pydicom
from pydicom.uid import generate_uid
from accounts.models import Organisation, User
from studies.models import Instance, Series, Study, WorklistEntry
from dicomweb.tasks import prerender_study
from worklists.models import Role, Worklist, product_permissions
from worklists import services

organisation = Organisation.objects.create(name="Bench Hospital")
user = User.objects.create_user(
    username=sys.argv[1], password=sys.argv[2], organisation=organisation
)
worklist = Worklist.objects.create(organisation=organisation, kind="location", name="Bench")
role = Role.objects.create(name="Viewer")
role.permissions.set(product_permissions().filter(codename="view_studies"))
services.role_sync_permissions(role=role)
services.membership_grant(actor=None, user=user, worklist=worklist, role=role)
out = {}
for name, path in json.loads(sys.argv[3]).items():
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    study = Study.objects.create(study_instance_uid=generate_uid(), patient_name="Perf^Phantom",
                                 patient_id="PERF-" + name, modalities_in_study="CT")
    series = Series.objects.create(study=study, series_instance_uid=generate_uid(), modality="CT",
                                   series_number=1, number_of_instances=1)
    data = open(path, "rb").read()
    instance = Instance(series=series, sop_instance_uid=generate_uid(),
                        rows=ds.Rows, columns=ds.Columns,
                        number_of_frames=1, file_size=len(data), instance_number=1,
                        transfer_syntax_uid=str(ds.file_meta.TransferSyntaxUID),
                        window_center=40, window_width=400)
    instance.file.save("x.dcm", ContentFile(data), save=True)
    WorklistEntry.objects.create(worklist=worklist, study=study)
    if name == "prerendered":
        prerender_study(study.pk)
    out[name] = {"study": study.study_instance_uid, "series": series.series_instance_uid,
                 "instance": instance.sop_instance_uid, "public_id": str(study.public_id)}
print(json.dumps(out))
"""


def find(pattern: str, text: str) -> str:
    match = re.search(pattern, text)
    if match is None:
        raise RuntimeError(f"{pattern!r} not found")
    return match.group(1)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """gunicorn in production mode on a free loopback port, with its own SQLite database and
    media under `workdir`; `prepare` (a script run with username, password and the files as
    JSON) creates what is served and prints its objects as JSON on its last line."""

    def __init__(
        self, workdir: Path, files: dict[str, Path], *, prepare: str = PREPARE, workers: int = 2
    ) -> None:
        self.port = free_port()
        self.env = {
            **os.environ,
            "VAR_DIR": str(workdir / "var"),
            "MEDIA_ROOT": str(workdir / "media"),
            "DJANGO_DEBUG": "0",
            "SECRET_KEY": "bench-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SECURE_COOKIES": "0",
            "LOG_LEVEL": "WARNING",
        }
        for name in ("DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL", "CACHE_URL"):
            self.env.pop(name, None)
        (workdir / "var").mkdir()
        manage = [PYTHON, "manage.py"]
        self._run([*manage, "migrate", "--noinput", "-v", "0"])
        self._run([*manage, "collectstatic", "--noinput", "-v", "0"])
        output = self._run(
            [
                PYTHON,
                "-c",
                prepare,
                USERNAME,
                PASSWORD,
                json.dumps({k: str(v) for k, v in files.items()}),
            ],
            extra={"DJANGO_SETTINGS_MODULE": "cimar_share.settings"},
        )
        self.objects = json.loads(output.strip().splitlines()[-1])
        gunicorn = str(Path(PYTHON).with_name("gunicorn"))
        self.process = subprocess.Popen(  # noqa: S603 (our own gunicorn, fixed arguments)
            [
                gunicorn,
                "cimar_share.wsgi",
                "-w",
                str(workers),
                "-b",
                f"127.0.0.1:{self.port}",
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                connection.request("GET", "/accounts/login/")
                if connection.getresponse().status == 200:
                    break
            except OSError:
                time.sleep(0.2)
        else:
            raise RuntimeError("gunicorn did not start")
        self.cookie = self.log_in() if prepare is PREPARE else ""

    def _run(self, command: list[str], extra: dict[str, str] | None = None) -> str:
        result = subprocess.run(  # noqa: S603 (manage.py and python -c with fixed code)
            command,
            cwd=ROOT,
            env={**self.env, **(extra or {})},
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode:
            raise RuntimeError(f"{' '.join(command[:3])} failed:\n{result.stderr[-2000:]}")
        return result.stdout

    def log_in(self) -> str:
        connection = http.client.HTTPConnection("127.0.0.1", self.port)
        connection.request("GET", "/accounts/login/")
        response = connection.getresponse()
        html = response.read().decode()
        csrf_cookie = find(r"csrftoken=([^;]+)", response.getheader("Set-Cookie", ""))
        token = find(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
        body = urllib.parse.urlencode(
            {"csrfmiddlewaretoken": token, "username": USERNAME, "password": PASSWORD}
        )
        connection = http.client.HTTPConnection("127.0.0.1", self.port)
        connection.request(
            "POST",
            "/accounts/login/",
            body=body,
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Cookie": f"csrftoken={csrf_cookie}",
                "Referer": f"http://127.0.0.1:{self.port}/accounts/login/",
            },
        )
        response = connection.getresponse()
        response.read()
        cookies = response.getheader("Set-Cookie", "")
        session = re.search(r"sessionid=([^;]+)", cookies)
        if response.status != 302 or not session:
            raise RuntimeError(f"login failed ({response.status})")
        return f"csrftoken={csrf_cookie}; sessionid={session.group(1)}"

    def frame_path(self, name: str, window: str | None = None) -> str:
        o = self.objects[name]
        path = (
            f"/dicomweb/studies/{o['study']}/series/{o['series']}/instances/"
            f"{o['instance']}/frames/1/rendered"
        )
        return path + (f"?window={window}" if window else "")

    def stop(self) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(self.process.pid, signal.SIGKILL)


def get(connection: http.client.HTTPConnection, path: str, headers: dict[str, str]) -> int:
    connection.request("GET", path, headers=headers)
    response = connection.getresponse()
    response.read()
    return response.status


def load(server: Server, paths, seconds: float, accept: str = "image/png") -> dict[str, float]:  # type: ignore[no-untyped-def]
    """CLIENTS threads with keep-alive connections request paths(i) for `seconds`."""
    headers = {"Accept": accept, "Cookie": server.cookie}
    latencies: list[float] = []
    errors = []
    counter = iter(range(10**9))
    lock = threading.Lock()
    stop_at = time.perf_counter() + seconds

    def client() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        mine = []
        while time.perf_counter() < stop_at:
            with lock:
                i = next(counter)
            start = time.perf_counter()
            status = get(connection, paths(i), headers)
            mine.append((time.perf_counter() - start) * 1000)
            if status != 200:
                errors.append(status)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise RuntimeError(f"{len(errors)} failed requests, e.g. status {errors[0]}")
    latencies.sort()
    return {
        "requests": len(latencies),
        "req_per_s": round(len(latencies) / elapsed, 1),
        "median_ms": round(statistics.median(latencies), 2),
        "p95_ms": round(latencies[int(len(latencies) * 0.95) - 1], 2),
    }


def sequential(server: Server, name: str, accept: str, count: int = 60) -> float:
    """One client, a different window each time (like ../shared/bench/latency.py)."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port)
    headers = {"Accept": accept, "Cookie": server.cookie}
    times = []
    for i in range(count):
        start = time.perf_counter()
        # The windows of ../shared/bench/latency.py: centre i, width 400, on the CT's real
        # tissue range, so every image has detail to encode (a far-off window is all black).
        status = get(connection, server.frame_path(name, f"{i},400"), headers)
        if status != 200:
            raise RuntimeError(f"status {status}")
        if i >= 10:
            times.append((time.perf_counter() - start) * 1000)
    return round(statistics.median(times), 2)


def viewer_first_image(server: Server) -> float | None:
    from playwright.sync_api import sync_playwright

    from testkit.chromium import CHROMIUM, CHROMIUM_ARGS

    if not os.path.exists(CHROMIUM):
        return None

    url = f"http://127.0.0.1:{server.port}/studies/{server.objects['prerendered']['public_id']}/viewer/"
    session = find(r"sessionid=([^;]+)", server.cookie)
    times = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        for _ in range(5):
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            context.add_cookies(
                [{"name": "sessionid", "value": session, "domain": "127.0.0.1", "path": "/"}]
            )
            page = context.new_page()
            start = time.perf_counter()
            page.goto(url)
            page.wait_for_function(
                "() => { const i = document.getElementById('viewer-image');"
                " return i && i.complete && i.naturalWidth > 0; }"
            )
            times.append((time.perf_counter() - start) * 1000)
            context.close()
        browser.close()
    return round(statistics.median(times), 1)


# --- Report -----------------------------------------------------------------------------------


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cimar_share.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    workdir = Path(tempfile.mkdtemp(prefix="cimar-bench-"))
    started = time.time()
    try:
        files = syntax_files(workdir)
        print("In-process rendering per transfer syntax ...", flush=True)
        syntaxes = in_process(files)
        ct_png = float(syntaxes["explicit-le"]["render_png_ms"])
        j2k_png = float(syntaxes["jpeg2000"]["render_png_ms"])
        print("Full stack through gunicorn (2 workers, 4 clients) ...", flush=True)
        server = Server(
            workdir,
            {
                "ct": files["explicit-le"],
                "j2k": files["jpeg2000"],
                "prerendered": files["jpeg2000"],
            },
        )
        try:
            web: dict[str, dict[str, float]] = {}
            web["uncached PNG, 1 client"] = {"median_ms": sequential(server, "ct", "image/png")}
            web["uncached JPEG, 1 client"] = {"median_ms": sequential(server, "ct", "image/jpeg")}
            web["uncached PNG, 4 clients"] = load(
                server,
                # Unique windows within the tissue range: centre -200..199, width grows.
                lambda i: server.frame_path("ct", f"{i % 400 - 200}.5,{400 + i // 400}"),
                COLD_SECONDS,
            )
            web["cached PNG, 4 clients"] = load(
                server, lambda i: server.frame_path("ct"), CACHED_SECONDS
            )
            web["uncached JPEG 2000, 1 client"] = {
                "median_ms": sequential(server, "j2k", "image/png", 25)
            }
            web["pre-rendered JPEG 2000, 4 clients"] = load(
                server, lambda i: server.frame_path("prerendered"), CACHED_SECONDS / 2
            )
            for name, row in web.items():
                reference = j2k_png if "JPEG 2000" in name else ct_png
                row["in_process_render_ms"] = reference
                row["ratio"] = round(row["median_ms"] / reference, 2)
            print("Viewer time to first image (Chromium) ...", flush=True)
            first_image = viewer_first_image(server)
        finally:
            server.stop()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print("Guest viewer on a phone over slow 4G (Chromium) ...", flush=True)
    from bench import memory, phone

    phone_figures = phone.measure()
    print("Peak memory: the largest allowed render and each refused bomb ...", flush=True)

    peaks = memory.measure()
    print("Loading a signed-in request: ours against Django's stock classes ...", flush=True)
    from bench import loading

    request_loading = loading.measure()
    report = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": sys.version.split()[0],
            "load_average": [round(v, 1) for v in os.getloadavg()],
        },
        "in_process_per_syntax": syntaxes,
        "full_stack": web,
        "viewer_first_image_ms": first_image,
        "phone_slow_4g": phone_figures,
        "peak_memory": peaks,
        "request_loading_us": request_loading,
        "targets": {
            "uncached PNG median <= 8.3 ms (Orthanc)": web["uncached PNG, 1 client"]["median_ms"]
            <= 8.3,
            "uncached PNG >= 236 req/s (2x Orthanc)": web["uncached PNG, 4 clients"]["req_per_s"]
            >= 236,
            "cached >= 1000 req/s": web["cached PNG, 4 clients"]["req_per_s"] >= 1000,
        },
        "seconds": round(time.time() - started, 1),
    }
    print_report(report)
    RESULTS.mkdir(parents=True, exist_ok=True)
    text = json.dumps(report, indent=2)
    (RESULTS / f"{time.strftime('%Y%m%d-%H%M%S')}.json").write_text(text)
    (RESULTS / "latest.json").write_text(text)
    print(f"\nWritten to {RESULTS / 'latest.json'}")


def print_report(report: dict) -> None:
    print("\nIn-process, ms per frame (median)")
    print(
        f"{'syntax':38} {'size':>9} {'decode':>8} {'window':>8} {'PNG':>8} {'JPEG':>8} "
        f"{'render':>8}"
    )
    for name, row in report["in_process_per_syntax"].items():
        print(
            f"{name:38} {row['size']:>9} {row['decode_ms']:8.2f} {row['window_ms']:8.2f} "
            f"{row['encode_png_ms']:8.2f} {row['encode_jpeg_ms']:8.2f} {row['render_png_ms']:8.2f}"
        )
    print("\nFull stack (gunicorn, 2 workers, session + permission check), 512x512 CT unless noted")
    print(f"{'':36} {'median ms':>10} {'p95 ms':>8} {'req/s':>8} {'in-proc ms':>11} {'ratio':>6}")
    for name, row in report["full_stack"].items():
        p95 = f"{row['p95_ms']:8.2f}" if "p95_ms" in row else f"{'':8}"
        rps = f"{row['req_per_s']:8.1f}" if "req_per_s" in row else f"{'':8}"
        print(
            f"{name:36} {row['median_ms']:10.2f} {p95} {rps} "
            f"{row['in_process_render_ms']:11.2f} {row['ratio']:6.2f}"
        )
    print(
        f"\nViewer time to first image (pre-rendered JPEG 2000 study): "
        f"{report['viewer_first_image_ms']} ms"
    )
    from bench import memory, phone

    phone.print_figures(report.get("phone_slow_4g"))
    memory.print_figures(report["peak_memory"])
    from bench import loading

    loading.print_figures(report["request_loading_us"])
    for target, met in report["targets"].items():
        print(f"  {'met ' if met else 'MISSED'}  {target}")
    print(f"({report['seconds']} s)")


if __name__ == "__main__":
    main()
