"""A second factor for guest links: after the right password, a one-time code.

A link created with `one_time_code=True` does not open on its password alone: the gate sends
a 6-digit code to the link's recipient (by SMS when the link has a mobile, as the link itself
usually came by email; else by email) and asks for it. The code
- is valid for CODE_LIFETIME and opens once (`code_claim`: a conditional UPDATE, so of two
  right submissions at once exactly one opens);
- belongs to the browser session that gave the password (the session holds the code's id);
- is kept only as an HMAC (`code_hash`, with SECRET_KEY) and compared in constant time;
- has its own cap on wrong answers over all of a link's codes (CODE_MAX_ATTEMPTS, counted by a
  conditional UPDATE on the link, see `links.gate.Gate.count_wrong`), which locks the link as
  wrong passwords do;
- is sent again at most once per RESEND_AFTER per session and SENDS_PER_WINDOW times per link
  and window (`send_exceeded`), counted before anything is written.

The outbox row never holds the code in the clear: it holds the code sealed with a one-time
pad derived from SECRET_KEY and the code's id (`seal`), opened by the delivery check when the
message is sent, which also refuses to send a code that has expired or been used, or whose
link no longer opens. Codes are never logged, nor written in the access log or audit trail.
"""

import hashlib
import hmac
import secrets
import uuid
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db.models import F
from django.http import HttpRequest
from django.utils import timezone
from django.utils.crypto import salted_hmac

from accounts.ratelimit import RateLimit, hit
from links.delivery import LinkUnusable
from links.messages import local_time
from links.ratelimit import Limited
from notifications.services import notification_enqueue

from .models import CODE_MAX_ATTEMPTS, GuestLink, GuestLinkCode

__all__ = ["CODE_MAX_ATTEMPTS"]

CODE_DIGITS = 6
CODE_LIFETIME = timedelta(minutes=10)
TEMPLATE = "guestlink_code"
SESSION_KEY = "guestlink_code"
_HASH_SALT = "cimar_share.guestlinks.code"
_SEAL_SALT = "cimar_share.guestlinks.code.seal"
_MODULUS = 10**CODE_DIGITS


# --- the code ----------------------------------------------------------------------------


def new_code() -> str:
    return f"{secrets.randbelow(_MODULUS):0{CODE_DIGITS}d}"


def normalise(typed: str) -> str | None:
    """The digits a guest typed (spaces and dashes allowed between them); None if that is not
    a code at all (never counted as a wrong one)."""
    digits = "".join(ch for ch in typed[:32] if ch not in " -\u00a0")
    if len(digits) != CODE_DIGITS or not digits.isascii() or not digits.isdigit():
        return None
    return digits


def code_hash(code_id: Any, code: str) -> str:
    return salted_hmac(_HASH_SALT, f"{code_id}:{code}", algorithm="sha256").hexdigest()


def code_matches(challenge: GuestLinkCode, code: str) -> bool:
    return hmac.compare_digest(code_hash(challenge.public_id, code), challenge.code_hash)


def _pad(code_id: str) -> int:
    digest = salted_hmac(_SEAL_SALT, code_id, algorithm="sha256").digest()
    return int.from_bytes(hashlib.sha256(digest).digest()[:8], "big") % _MODULUS


def seal(code: str, code_id: str) -> int:
    """The code under a one-time pad (the pad is the HMAC of the code's id): useless without
    SECRET_KEY, so the outbox table never holds a code."""
    return (int(code) + _pad(code_id)) % _MODULUS


def unseal(sealed: int, code_id: str) -> str:
    return f"{(int(sealed) - _pad(code_id)) % _MODULUS:0{CODE_DIGITS}d}"


# --- sending -----------------------------------------------------------------------------


def channel_for(link: GuestLink) -> str:
    return "sms" if link.mobile else "email"


def destination_hint(challenge: GuestLinkCode) -> str:
    """Where the code went, as much as the guest needs to know: 'your mobile ending 67'."""
    link = challenge.link
    if challenge.channel == "sms":
        return f"by SMS to the mobile number ending {str(link.mobile)[-2:]}"
    local, _, domain = link.email.partition("@")
    return f"by email to {local[:1]}…@{domain}"


def send_exceeded(link: GuestLink) -> Limited | None:
    """Count one code sent for `link`; a `Limited` when over the link's allowance."""
    rate = RateLimit(
        "guestlink_code_send",
        int(settings.GUESTLINK_CODE_SENDS_PER_WINDOW),
        int(settings.GUESTLINK_CODE_SEND_WINDOW_SECONDS),
    )
    if not rate.limit:
        return None
    now = timezone.now()
    hits = hit(rate, link.token_digest, now=now)
    if hits > rate.limit:
        return Limited(retry_after=rate.retry_after(now), first=hits == rate.limit + 1)
    return None


def resend_wait(challenge: GuestLinkCode) -> int:
    """Seconds before this session may ask for another code (0: now)."""
    ready = challenge.created_at + timedelta(seconds=int(settings.GUESTLINK_CODE_RESEND_SECONDS))
    return max(0, int((ready - timezone.now()).total_seconds() + 0.999))


def code_issue(*, link: GuestLink, replaces: GuestLinkCode | None = None) -> GuestLinkCode:
    """A new code for `link`, queued to its recipient (call inside the attempt's transaction;
    the caller has counted it with `send_exceeded`). A code it replaces stops working."""
    now = timezone.now()
    if replaces is not None:
        GuestLinkCode.objects.filter(pk=replaces.pk, used_at__isnull=True).update(expires_at=now)
    code = new_code()
    challenge = GuestLinkCode(link=link, channel=channel_for(link), created_at=now)
    challenge.expires_at = now + CODE_LIFETIME
    challenge.code_hash = code_hash(challenge.public_id, code)
    challenge.save()
    code_id = str(challenge.public_id)
    notification_enqueue(
        channel=challenge.channel,
        recipient=str(link.mobile) if challenge.channel == "sms" else link.email,
        template=TEMPLATE,
        context={
            "code_id": code_id,
            "sealed": seal(code, code_id),
            "minutes": int(CODE_LIFETIME.total_seconds() // 60),
            "valid_until": local_time(challenge.expires_at, link),
        },
    )
    return challenge


def code_delivery(context: dict[str, Any]) -> dict[str, Any]:
    """The delivery check of "guestlink_code": the code itself, while it can still open."""
    code_id = str(context.get("code_id") or "")
    challenge = (
        GuestLinkCode.objects.select_related("link").filter(public_id=code_id).first()
        if code_id
        else None
    )
    if challenge is None or challenge.used_at is not None:
        raise LinkUnusable("The one-time code has been used or replaced; not sent.")
    if challenge.expires_at <= timezone.now():
        raise LinkUnusable("The one-time code has expired; not sent.")
    if not challenge.link.is_usable:
        raise LinkUnusable(
            f"The guest link is no longer usable ({challenge.link.state_label.lower()}); not sent."
        )
    return {"code": unseal(int(context.get("sealed", 0)), code_id)}


# --- checking ----------------------------------------------------------------------------


def code_claim(challenge: GuestLinkCode) -> bool:
    """Use the code, atomically: only once, and only before it expires."""
    return bool(
        GuestLinkCode.objects.filter(
            pk=challenge.pk, used_at__isnull=True, expires_at__gt=timezone.now()
        ).update(used_at=timezone.now())
    )


def count_wrong_code(link_id: int, usable_now: Any) -> bool:
    """Count one wrong code, atomically: only while the link may open and fewer than
    CODE_MAX_ATTEMPTS have been counted."""
    return bool(
        GuestLink.objects.filter(
            usable_now, pk=link_id, code_failures__lt=CODE_MAX_ATTEMPTS
        ).update(code_failures=F("code_failures") + 1)
    )


# --- the browser session the code belongs to ---------------------------------------------


def pending_save(request: HttpRequest, challenge: GuestLinkCode) -> None:
    request.session[SESSION_KEY] = {"link": challenge.link_id, "code": str(challenge.public_id)}


def pending_code(request: HttpRequest, link: GuestLink) -> GuestLinkCode | None:
    """The code this session was sent for `link` (used, expired or not); None if none."""
    data = request.session.get(SESSION_KEY)
    if not isinstance(data, dict) or data.get("link") != link.pk:
        return None
    try:
        code_id = uuid.UUID(str(data.get("code")))
    except ValueError:
        return None
    return GuestLinkCode.objects.filter(link=link, public_id=code_id).first()


def pending_clear(request: HttpRequest) -> None:
    request.session.pop(SESSION_KEY, None)
