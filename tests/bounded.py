"""Run a dangerous call in a forked child under a memory limit, so a regression fails a test
instead of taking the machine down.

`bounded(call, headroom=...)` forks; the child caps its address space (RLIMIT_AS) at its
current size plus `headroom`, runs `call()`, and sends back what it returned (pickled) with its
peak memory growth; the parent returns that, or fails the test when the child raised (a
MemoryError, say), was killed, or ran too long. The child shares the parent's state as of the
fork, including the test database connection: the parent waits while the child uses it, and the
child leaves with os._exit so nothing of the parent's is closed or flushed twice. Whatever the
child writes (rows, files) is checked inside `call`, not afterwards by the parent.
"""

from __future__ import annotations

import os
import pickle
import resource
import select
import signal
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

GiB = 1024**3
MiB = 1024**2


@dataclass
class Outcome:
    value: Any
    peak_growth: int  # bytes of resident memory the call added at its peak (ru_maxrss)


def _address_space() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmSize in /proc/self/status")


def _resident() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def bounded(call: Callable[[], Any], *, headroom: int = GiB, timeout: float = 120) -> Outcome:
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        status = 0
        try:
            os.close(reader)
            start = _resident()
            limit = _address_space() + headroom
            _, hard = resource.getrlimit(resource.RLIMIT_AS)
            resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
            try:
                value = call()
                peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
                message = ("ok", value, max(0, peak - start))
            except BaseException as error:  # noqa: BLE001 (reported to the parent as a failure)
                message = ("error", "".join(traceback.format_exception(error))[-4000:], 0)
            data = pickle.dumps(message)
            with os.fdopen(writer, "wb") as out:
                out.write(data)
        except BaseException:  # noqa: BLE001
            status = 3
        finally:
            os._exit(status)
    os.close(writer)
    chunks = []
    deadline = time.monotonic() + timeout
    with os.fdopen(reader, "rb") as pipe:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                pytest.fail(f"the bounded call ran longer than {timeout} s")
            ready, _, _ = select.select([pipe], [], [], remaining)
            if not ready:
                continue
            chunk = os.read(pipe.fileno(), 1 << 16)
            if not chunk:
                break
            chunks.append(chunk)
    _, status = os.waitpid(pid, 0)
    if not chunks:
        pytest.fail(f"the bounded call died without an answer (wait status {status})")
    kind, value, growth = pickle.loads(b"".join(chunks))  # noqa: S301 (our own child)
    if kind != "ok":
        pytest.fail(f"the bounded call failed under a {headroom / MiB:.0f} MiB limit:\n{value}")
    return Outcome(value, growth)
