from celery import shared_task

from . import ratelimit


@shared_task
def prune_rate_limits() -> int:
    """Drop rate-limit counters (failed logins, guest-link attempts) whose window has closed."""
    return ratelimit.prune()
