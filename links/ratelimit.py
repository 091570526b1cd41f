"""Rate limits on attempts at a link, counted with the shared database counter
(accounts.ratelimit) so that every web process sees the same counts."""

from dataclasses import dataclass

from django.utils import timezone

from accounts.ratelimit import RateLimit, hit


@dataclass(frozen=True)
class Limited:
    retry_after: int  # seconds until the window ends
    first: bool  # the first hit over this limit in this window: the one worth logging


@dataclass(frozen=True)
class GateLimits:
    """One kind's limits (a limit of 0 is off). `scope` keeps kinds' counts apart."""

    window_seconds: int
    per_ip: int
    per_link: int
    guesses_per_ip: int
    scope: str = ""


def attempt_exceeded(
    limits: GateLimits, *, address: str, digest: str, opens_nothing: bool
) -> Limited | None:
    """Count one attempt (a POST at a link's gate); a `Limited` when over a limit.

    The limits are shaped so that no single address can shut links off for everyone (behind a
    proxy or a NAT, many recipients share one address):

    - A token that opens nothing (unknown, or a deleted, expired, locked or used-up link: the
      two look the same to the visitor, so they count the same) is a guess. Guesses are capped
      per address (the highest limit, as a whole clinic's stale links may come from one
      address), and never count towards anything else.
    - A link that opens is limited per (address, link) and per link over all addresses.
      Guessing from an address never blocks a real link from it, and hammering one link never
      blocks another.

    Counting stops at the first limit exceeded, so a flood over one limit does not also use up
    the next one (a flood from one address does not use up the link's allowance for others).
    Passwords are only ever checked for links that open, so both limits on them come before
    any hashing.
    """
    window = limits.window_seconds
    prefix = f"{limits.scope}_" if limits.scope else ""
    if opens_nothing:
        checks = [(RateLimit(f"{prefix}guess", limits.guesses_per_ip, window), address)]
    else:
        checks = [
            (RateLimit(f"{prefix}ip_link", limits.per_ip, window), f"{address}\0{digest}"),
            (RateLimit(f"{prefix}link", limits.per_link, window), digest),
        ]
    now = timezone.now()
    for rate, identity in checks:
        if not rate.limit:
            continue
        hits = hit(rate, identity, now=now)
        if hits > rate.limit:
            return Limited(retry_after=rate.retry_after(now), first=hits == rate.limit + 1)
    return None
