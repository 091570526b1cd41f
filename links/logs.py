"""Keep link tokens (guest /g/, upload /u/) out of the logs: Django logs the path of every 4xx
response.

The filter is configured in the settings' LOGGING, on the loggers that write request paths
(django.request, django.server, django.security.csrf)."""

import logging
import re

TOKEN_IN_PATH = re.compile(r"/([gu])/[A-Za-z0-9_-]{43}")
REDACTED = r"/\1/<token>"


def redact(value: object) -> object:
    return TOKEN_IN_PATH.sub(REDACTED, value) if isinstance(value, str) else value


class RedactLinkTokens(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(arg) for arg in record.args)
        return True
