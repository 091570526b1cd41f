"""Handing a task to the broker without making a web request wait for it.

Publishing to a broker that is down blocks for seconds before it fails (Redis: about 6 s per
call), so a request never publishes itself: it puts the task on an in-process queue and a
background thread publishes it. After a failure the thread drops what it is given for
`PAUSE_SECONDS`; every caller has a way to catch up (the outbox sweep for messages, the first
view for pre-rendering), so nothing depends on the task being published.

With CELERY_TASK_ALWAYS_EAGER (the embedded default, no broker) the task runs inline, as before.
"""

import logging
import queue
import threading
import time
from typing import Any

from celery import Task
from django.conf import settings

logger = logging.getLogger(__name__)

PAUSE_SECONDS = 30.0

_queue: "queue.Queue[tuple[Task, tuple[Any, ...], int | None]]" = queue.Queue()
_lock = threading.Lock()
_thread: threading.Thread | None = None
_paused_until = 0.0


def is_eager() -> bool:
    return bool(getattr(settings, "CELERY_TASK_ALWAYS_EAGER", False))


def enqueue_quietly(task: Task, args: tuple[Any, ...], *, countdown: int | None = None) -> Any:
    """Queue `task(*args)` for a worker without waiting on the broker; never raises.

    Eager: runs the task now and returns its result. Otherwise returns None at once.
    """
    if is_eager():
        return task.apply_async(args, countdown=countdown).result
    if broker_paused():
        logger.info("Broker unreachable lately: %s not queued; it will be caught up.", task.name)
        return None
    _ensure_thread()
    _queue.put((task, args, countdown))
    return None


def broker_paused() -> bool:
    return time.monotonic() < _paused_until


def resume() -> None:
    """Forget a past broker failure (tests; a process that knows the broker is back)."""
    global _paused_until
    _paused_until = 0.0


def wait_until_handed_off(timeout: float = 30.0) -> bool:
    """Wait until everything queued so far was published or dropped (tests, shutdown)."""
    deadline = time.monotonic() + timeout
    while _queue.unfinished_tasks:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def _ensure_thread() -> None:
    global _thread
    with _lock:
        if _thread is None or not _thread.is_alive():
            _thread = threading.Thread(target=_publish_forever, name="broker-hand-off", daemon=True)
            _thread.start()


def _publish_forever() -> None:
    global _paused_until
    while True:
        task, args, countdown = _queue.get()
        try:
            if broker_paused():
                continue
            # retry=False: one connection attempt, then the row or the study stays as it is.
            task.apply_async(args, countdown=countdown, retry=False)
        except Exception:  # the broker is down or unreachable
            _paused_until = time.monotonic() + PAUSE_SECONDS
            logger.warning(
                "Could not queue %s; it will be caught up later.", task.name, exc_info=True
            )
        finally:
            _queue.task_done()
