"""Whether a queued message may still go out, decided by the app that queued it.

A message is sent when it is delivered, which may be long after it was queued (a retry, the
sweep, "Send again" in the admin). The app that queued a template registers a check for it in
its `AppConfig.ready` (sharing: "invitation"; guestlinks: "guestlink_invite"). The check gets the
message's stored context and either raises PermanentDeliveryError (the message fails for good,
with that reason, and nothing goes out) or returns what the message needs that the outbox row
must not hold (a link made from a token, say). Templates then only render what they are given.
"""

from collections.abc import Callable
from typing import Any

DeliveryCheck = Callable[[dict[str, Any]], dict[str, Any]]

_checks: dict[str, DeliveryCheck] = {}


def register_delivery_check(template: str, check: DeliveryCheck) -> None:
    _checks[template] = check


def delivery_context(template: str, context: dict[str, Any]) -> dict[str, Any]:
    """The context a message renders with, once its template's check has let it go out."""
    check = _checks.get(template)
    return {**context, **check(context)} if check is not None else context
