"""Whether a queued message may still go out, decided by the app that queued it.

A message is sent when it is delivered, which may be long after it was queued (a retry, the
sweep, "Send again" in the admin). The app that queued a template registers a check for it in
its `AppConfig.ready` (sharing: "invitation"; guestlinks: "guestlink_invite"). The check gets the
message's stored context and either raises PermanentDeliveryError (the message fails for good,
with that reason, and nothing goes out) or returns what the message needs that the outbox row
must not hold (a link made from a token, say). Templates then only render what they are given.

The same app may register what to do once a message of its template has gone out or failed for
good (guest and upload links, invitations: an audit event), as `register_delivery_outcome`.
"""

import logging
from collections.abc import Callable
from typing import Any

logger = logging.getLogger(__name__)

DeliveryCheck = Callable[[dict[str, Any]], dict[str, Any]]
# outcome(context=, channel=, status="sent" | "failed", reason=)
DeliveryOutcome = Callable[..., None]

_checks: dict[str, DeliveryCheck] = {}
_outcomes: dict[str, DeliveryOutcome] = {}


def register_delivery_check(template: str, check: DeliveryCheck) -> None:
    _checks[template] = check


def delivery_context(template: str, context: dict[str, Any]) -> dict[str, Any]:
    """The context a message renders with, once its template's check has let it go out."""
    check = _checks.get(template)
    return {**context, **check(context)} if check is not None else context


def register_delivery_outcome(template: str, outcome: DeliveryOutcome) -> None:
    _outcomes[template] = outcome


def delivery_outcome(
    template: str, context: dict[str, Any], *, channel: str, status: str, reason: str = ""
) -> None:
    """Tell the template's app that a message went out ("sent") or failed for good ("failed").
    Never raises: the message's own state is already recorded, whatever the app does."""
    outcome = _outcomes.get(template)
    if outcome is None:
        return
    try:
        outcome(context=context, channel=channel, status=status, reason=reason)
    except Exception:
        logger.exception("The delivery outcome of a %s message was not recorded.", template)
