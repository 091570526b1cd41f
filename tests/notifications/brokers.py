"""Point this process's Celery app at another broker for one test (e.g. a port where nothing
listens, or a Redis the test starts and stops), then back. Eager or not stays the settings'
CELERY_TASK_ALWAYS_EAGER (the tests' default is eager)."""

import contextlib
import socket
from collections.abc import Iterator

from cimar_share.celery import app
from notifications import queueing


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _reset_pools() -> None:
    # Dropped, not closed: kombu's global producer pools may still hand the old ones out to
    # whoever holds them; new connections go to the broker now configured.
    app._pool = None
    app.amqp._producer_pool = None


@contextlib.contextmanager
def broker_at(url: str) -> Iterator[None]:
    saved = app.conf.broker_url, app.conf.broker_write_url
    app.conf.broker_url = url
    app.conf.broker_write_url = url
    _reset_pools()
    try:
        yield
    finally:
        # Whatever was handed off meanwhile is published (or dropped) before the switch back,
        # and a failure it met does not hold back what the next test publishes.
        queueing.wait_until_handed_off()
        app.conf.broker_url, app.conf.broker_write_url = saved
        _reset_pools()
        queueing.resume()
