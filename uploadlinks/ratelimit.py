"""Upload links' limits at the shared gate, and on starting uploads."""

from django.conf import settings
from django.utils import timezone

from accounts.ratelimit import RateLimit, hit
from links.ratelimit import GateLimits, Limited


def gate_limits() -> GateLimits:
    return GateLimits(
        window_seconds=settings.UPLOADLINK_RATE_LIMIT_WINDOW_SECONDS,
        per_ip=settings.UPLOADLINK_RATE_LIMIT_PER_IP,
        per_link=settings.UPLOADLINK_RATE_LIMIT_PER_LINK,
        guesses_per_ip=settings.UPLOADLINK_RATE_LIMIT_GUESSES_PER_IP,
        scope="upload",
    )


def upload_start_exceeded(*, address: str, link_id: int) -> Limited | None:
    """Count one upload started from `address` through a link (0: no limit)."""
    rate = RateLimit(
        "upload_start",
        settings.UPLOADLINK_RATE_LIMIT_UPLOADS_PER_IP,
        settings.UPLOADLINK_RATE_LIMIT_WINDOW_SECONDS,
    )
    if not rate.limit:
        return None
    now = timezone.now()
    hits = hit(rate, f"{address}\0{link_id}", now=now)
    if hits > rate.limit:
        return Limited(retry_after=rate.retry_after(now), first=hits == rate.limit + 1)
    return None
