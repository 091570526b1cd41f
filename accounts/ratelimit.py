"""Fixed-window rate limits kept in the database, so every web process shares them.

The one counter behind both the login throttle (accounts.services) and the guest-link gate
(guestlinks.ratelimit). The default cache is per-process local memory when CACHE_URL is unset,
which would let each process count on its own (a limit of 10 would be 10 per gunicorn worker);
a single-row upsert (`INSERT ... ON CONFLICT DO UPDATE ... RETURNING`, on PostgreSQL and SQLite
3.35+) counts atomically everywhere without extra services. It also fails closed by itself: a
count that cannot be written raises, and callers refuse what they were about to allow.
"""

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from .models import RateLimitBucket


@dataclass(frozen=True)
class RateLimit:
    scope: str
    limit: int
    window_seconds: int

    def retry_after(self, now: datetime) -> int:
        """Seconds until the window that holds `now` ends."""
        return self.window_seconds - int(now.timestamp()) % self.window_seconds


def _bucket_key(scope: str, identity: str, window_index: int) -> str:
    # Hashed so that neither addresses, usernames nor token digests sit in the key in the clear.
    hashed = hashlib.sha256(f"{scope}\0{identity}".encode()).hexdigest()[:40]
    return f"{scope}:{hashed}:{window_index}"


def _window_index(rate: RateLimit, now: datetime) -> int:
    return int(now.timestamp()) // rate.window_seconds


def hit(rate: RateLimit, identity: str, *, now: datetime | None = None) -> int:
    """Count one hit against `identity` in the current window; return the window's count."""
    now = now or timezone.now()
    window_index = _window_index(rate, now)
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


def unhit(rate: RateLimit, identity: str, *, now: datetime) -> None:
    """Take back a hit counted at `now` (a claim that turned out not to count, such as a login
    whose password was right). A window that has closed meanwhile is left alone."""
    key = _bucket_key(rate.scope, identity, _window_index(rate, now))
    RateLimitBucket.objects.filter(key=key, hits__gt=0).update(hits=F("hits") - 1)


def prune(*, older_than: timedelta = timedelta(0)) -> int:
    deleted, _ = RateLimitBucket.objects.filter(
        window_ends_at__lt=timezone.now() - older_than
    ).delete()
    return deleted
