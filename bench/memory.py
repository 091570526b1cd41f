"""Peak memory of the largest allowed renders and of each refused bomb (`make bench`, or on its
own: `.venv/bin/python -m bench.memory`).

Every case runs in a forked child under an address-space limit (RLIMIT_AS, 2 GiB above the
child's start), so a regression cannot take the machine down; the figure is the child's peak
resident memory (ru_maxrss) minus what it started with, in MiB. The bombs are the test suite's
(tests/studies/bombs.py); the limits are the defaults (100 M samples, 10 000 frames, 512 MiB).
"""

from __future__ import annotations

import io
import os
import pickle
import resource
import tempfile
import time
import zipfile
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from bench import setup_django

HEADROOM = 2 * 1024**3
MiB = 1024**2


def _resident() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def _address_space() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def in_child(call: Callable[[], Any]) -> dict[str, Any]:
    """Run `call` in a forked child under the limit: its outcome, peak growth and seconds."""
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(reader)
        start = _resident()
        resource.setrlimit(
            resource.RLIMIT_AS,
            (_address_space() + HEADROOM, resource.getrlimit(resource.RLIMIT_AS)[1]),
        )
        began = time.perf_counter()
        try:
            outcome = str(call())[:120]
        except BaseException as error:  # noqa: BLE001 (a refusal is the expected outcome)
            outcome = f"{error.__class__.__name__}: {getattr(error, 'reason', error)}"[:120]
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        result = {
            "outcome": outcome,
            "peak_mib": round(max(0, peak - start) / MiB, 1),
            "seconds": round(time.perf_counter() - began, 2),
        }
        with os.fdopen(writer, "wb") as out:
            out.write(pickle.dumps(result))
        os._exit(0)
    os.close(writer)
    with os.fdopen(reader, "rb") as pipe:
        data = pipe.read()
    os.waitpid(pid, 0)
    if not data:
        return {"outcome": "killed", "peak_mib": None, "seconds": None}
    return pickle.loads(data)  # noqa: S301 (our own child)


def _write_largest(path: Path, *, window: bool) -> None:
    from testkit.dicom_files import dataset, write

    side = np.arange(10_000, dtype=np.uint16)
    pixels = (side[:, None] + side[None, :]) % 4096
    ds = dataset(pixels, bits_stored=12, RescaleIntercept=-1024, RescaleSlope=1)
    if window:
        ds.WindowCenter, ds.WindowWidth = 1000, 2000
    write(ds, path)


def _render(path: Path, params: Any, limits: Any) -> int:
    from studies import rendering

    return len(rendering.render(str(path), params, limits))


def measure() -> dict[str, dict[str, Any]]:
    from django.conf import settings

    from dicomweb.frames import VIEWER_MAX_SIZE
    from studies import rendering
    from studies.dicom import parse_dicom
    from studies.rendering import RenderParams
    from studies.services import ingest_file_count
    from testkit import bombs

    limits = rendering.Limits(
        max_pixels=settings.DICOM_MAX_PIXELS,
        max_frames=settings.DICOM_MAX_FRAMES,
        max_inflated=settings.DICOM_MAX_FILE_SIZE,
    )
    viewer = RenderParams(viewport=(VIEWER_MAX_SIZE, VIEWER_MAX_SIZE))
    figures: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="cimar-memory-") as folder:
        work = Path(folder)
        for window in (False, True):
            path = work / f"largest-{window}.dcm"
            in_child(partial(_write_largest, path, window=window))
            name = "largest render, 10000x10000 12-bit, " + (
                "file window" if window else "auto window"
            )
            figures[name] = in_child(partial(_render, path, viewer, limits))
        for kind, build in (
            ("frame count 2^31-1", bombs.frame_count_bomb),
            ("JPEG 20000x20000 in 64x64", bombs.jpeg_bomb),
            ("JPEG-LS 20000x20000 in 64x64", bombs.jpeg_ls_bomb),
            ("JPEG 2000 20000x20000 in 64x64", bombs.j2k_bomb),
            ("RLE 16 MB segment -> 1 GB", bombs.rle_bomb),
            ("deflate 1 MB -> 1 GB", bombs.deflate_bomb),
        ):
            path = work / "bomb.dcm"
            path.write_bytes(build())
            figures[f"bomb at ingest: {kind}"] = in_child(partial(parse_dicom, path))
            figures[f"bomb at render: {kind}"] = in_child(partial(_render, path, viewer, limits))
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
            for n in range(65_536):
                archive.writestr(str(n), b"")
        (work / "members.zip").write_bytes(buffer.getvalue())
        figures["zip of 65,536 members, counted"] = in_child(
            partial(ingest_file_count, [work / "members.zip"])
        )
    return figures


def print_figures(figures: dict[str, dict[str, Any]]) -> None:
    print(f"\nPeak memory per case (MiB above the process's start; limit {HEADROOM // MiB} MiB)")
    for name, row in figures.items():
        print(f"  {name:52} {row['peak_mib']!s:>8} MiB {row['seconds']!s:>6} s  {row['outcome']}")


def main() -> None:
    setup_django()
    print_figures(measure())


if __name__ == "__main__":
    main()
