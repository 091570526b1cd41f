"""How a delivery failed: worth another try later, or never going to work.

Backends (email, SMS) may raise these to say so explicitly; otherwise
`notifications.services.is_transient` classifies the exception.
"""


class TransientDeliveryError(Exception):
    """The message may go through later (a connection refused, a timeout, a 4xx reply)."""


class PermanentDeliveryError(Exception):
    """The message will never go through as it is (a refused recipient, a 5xx reply)."""
