"""Rate limits on guest-link attempts, counted with the shared database counter
(accounts.ratelimit) so that every web process sees the same counts."""

from dataclasses import dataclass

from django.conf import settings
from django.utils import timezone

from accounts.ratelimit import RateLimit, hit


@dataclass(frozen=True)
class Limited:
    retry_after: int  # seconds until the window ends
    first: bool  # the first hit over this limit in this window: the one worth logging


def guest_attempt_exceeded(*, address: str, digest: str, opens_nothing: bool) -> Limited | None:
    """Count one guest attempt (a POST to /g/<token>/); a `Limited` when over a limit.

    The limits are shaped so that no single address can shut guest links off for everyone
    (behind a proxy or a NAT, many recipients share one address):

    - A token that opens nothing (unknown, or a deleted, expired, locked or used-up link: the
      two look the same to the guest, so they count the same) is a guess. Guesses are capped
      per address (GUESTLINK_RATE_LIMIT_GUESSES_PER_IP, the highest limit, as a whole clinic's
      stale links may come from one address), and never count towards anything else.
    - A link that opens is limited per (address, link) (GUESTLINK_RATE_LIMIT_PER_IP) and per
      link over all addresses (GUESTLINK_RATE_LIMIT_PER_LINK). Guessing from an address never
      blocks a real link from it, and hammering one link never blocks another.

    Counting stops at the first limit exceeded, so a flood over one limit does not also use up
    the next one (a flood from one address does not use up the link's allowance for others).
    A limit of 0 is off. Passwords are only ever checked for links that open, so both limits
    on them come before any hashing.
    """
    window = settings.GUESTLINK_RATE_LIMIT_WINDOW_SECONDS
    if opens_nothing:
        checks = [
            (RateLimit("guess", settings.GUESTLINK_RATE_LIMIT_GUESSES_PER_IP, window), address)
        ]
    else:
        checks = [
            (
                RateLimit("ip_link", settings.GUESTLINK_RATE_LIMIT_PER_IP, window),
                f"{address}\0{digest}",
            ),
            (RateLimit("link", settings.GUESTLINK_RATE_LIMIT_PER_LINK, window), digest),
        ]
    now = timezone.now()
    for rate, identity in checks:
        if not rate.limit:
            continue
        hits = hit(rate, identity, now=now)
        if hits > rate.limit:
            return Limited(retry_after=rate.retry_after(now), first=hits == rate.limit + 1)
    return None
