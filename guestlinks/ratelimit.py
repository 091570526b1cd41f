"""Fixed-window rate limits kept in the database, so every web process shares them.

The default cache is per-process local memory when CACHE_URL is unset, which would let each
process count on its own; a single-row upsert (`INSERT ... ON CONFLICT DO UPDATE ... RETURNING`,
on PostgreSQL and SQLite 3.35+) counts atomically everywhere without extra services.
"""

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from .models import RateLimitBucket


@dataclass(frozen=True)
class RateLimit:
    scope: str
    limit: int
    window_seconds: int


def guest_attempt_limits() -> tuple[RateLimit, RateLimit]:
    window = settings.GUESTLINK_RATE_LIMIT_WINDOW_SECONDS
    return (
        RateLimit("ip", settings.GUESTLINK_RATE_LIMIT_PER_IP, window),
        RateLimit("link", settings.GUESTLINK_RATE_LIMIT_PER_LINK, window),
    )


def _bucket_key(scope: str, identity: str, window_index: int) -> str:
    # Hashed so that neither addresses nor token digests sit in the key in the clear.
    hashed = hashlib.sha256(f"{scope}\0{identity}".encode()).hexdigest()[:40]
    return f"{scope}:{hashed}:{window_index}"


def hit(rate: RateLimit, identity: str) -> int:
    """Count one hit against `identity` in the current window; return the window's count."""
    now = timezone.now()
    window_index = int(now.timestamp()) // rate.window_seconds
    window_ends_at = datetime.fromtimestamp((window_index + 1) * rate.window_seconds, tz=UTC)
    table = RateLimitBucket._meta.db_table
    sql = (
        f"INSERT INTO {table} (key, window_ends_at, hits) VALUES (%s, %s, 1) "  # noqa: S608
        f"ON CONFLICT (key) DO UPDATE SET hits = {table}.hits + 1 RETURNING hits"
    )
    key = _bucket_key(rate.scope, identity, window_index)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, [key, window_ends_at])
        return int(cursor.fetchone()[0])


def exceeded(identities: dict[str, str]) -> int | None:
    """Count a guest attempt per address and per link; seconds to wait when over a limit.

    Every limit is counted (a flood on one link also counts against the address), and a
    limit of 0 switches that limit off.
    """
    wait = None
    for rate in guest_attempt_limits():
        identity = identities.get(rate.scope)
        if not rate.limit or identity is None:
            continue
        if hit(rate, identity) > rate.limit:
            now = int(timezone.now().timestamp())
            wait = max(wait or 0, rate.window_seconds - now % rate.window_seconds)
    return wait


def prune(*, older_than: timedelta = timedelta(0)) -> int:
    deleted, _ = RateLimitBucket.objects.filter(
        window_ends_at__lt=timezone.now() - older_than
    ).delete()
    return deleted
