"""The production stack as processes on loopback: gunicorn (with the project's gunicorn.conf.py)
and a Celery worker, both on the same PostgreSQL, Redis and media directory. Shared by the load
test in bench/load.py and its CI version in tests/integration/test_load.py.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers(port: int, path: str) -> bool:
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        connection.request("GET", path)
        return connection.getresponse().status == 200
    except OSError:
        return False


def _stop(process: subprocess.Popen, timeout: float = 30) -> None:  # type: ignore[type-arg]
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


class Stack:
    def __init__(self, port: int, logs: Path) -> None:
        self.port, self.logs = port, logs
        self.url = f"http://127.0.0.1:{port}"

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")


@contextlib.contextmanager
def web_and_worker(env: dict[str, str], logs: Path, *, workers: int = 2) -> Iterator[Stack]:
    """gunicorn (`workers` processes, the threads of gunicorn.conf.py) and one Celery worker,
    started with `env`, logging into `logs`; stopped (SIGTERM) on the way out."""
    logs.mkdir(parents=True, exist_ok=True)
    stack = Stack(free_port(), logs)
    env = {**env, "GUNICORN_WORKERS": str(workers)}
    processes = []
    try:
        with (logs / "gunicorn.log").open("wb") as out:
            processes.append(
                subprocess.Popen(  # noqa: S603 (our own gunicorn, fixed arguments)
                    [str(BIN / "gunicorn"), "cimar_share.wsgi", "-b", f"127.0.0.1:{stack.port}"],
                    cwd=ROOT,  # where gunicorn.conf.py is read from
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            )
        with (logs / "worker.log").open("wb") as out:
            processes.append(
                subprocess.Popen(  # noqa: S603 (our own celery, fixed arguments)
                    [str(BIN / "celery"), "-A", "cimar_share", "worker", "--pool=solo",
                     "--without-gossip", "--without-mingle", "-l", "INFO"],
                    cwd=ROOT,
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            )  # fmt: skip
        deadline = time.monotonic() + 90
        while not (_answers(stack.port, "/healthz") and "ready." in stack.log("worker")):
            for process in processes:
                if process.poll() is not None:
                    raise RuntimeError(
                        f"{process.args!r} exited:\n{stack.log('gunicorn')[-2000:]}"
                        f"\n{stack.log('worker')[-2000:]}"
                    )
            if time.monotonic() > deadline:
                raise RuntimeError("gunicorn and the worker did not start within 90 s")
            time.sleep(0.3)
        yield stack
    finally:
        for process in processes:
            _stop(process)
