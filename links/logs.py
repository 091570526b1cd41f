"""Keep secrets out of the logs: link tokens (guest /g/, upload /u/), invitation and
password-reset tokens, API tokens, and passwords.

Django logs the path of every 4xx response, and a traceback may quote a URL or a form; any
line can. `RedactSecrets` is configured in the settings' LOGGING on the console handler, so
every record the application writes passes through it, whichever logger wrote it. It masks by
shape, not by a list of known values: a token is recognised by where it stands (a link's path,
a `token=` or `password=` field, a bearer header), so it works for tokens this process never
saw (another worker's, a guess).
"""

import logging
import re

MASK = "<redacted>"
TOKEN = "<token>"

# (pattern, replacement): each keeps what tells an operator what happened (which kind of URL,
# which field), and drops the secret itself.
PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Guest and upload links: /g/<token>/, /u/<token>/ (43 characters of base64url).
    (re.compile(r"/([gu])/[A-Za-z0-9_-]{20,}"), r"/\1/" + TOKEN),
    # Email invitations (signed, base64url and colons) and password-reset links.
    (re.compile(r"/invite/[A-Za-z0-9_:.-]+"), "/invite/" + TOKEN),
    (re.compile(r"/reset/([A-Za-z0-9_-]+)/[A-Za-z0-9_:-]+"), r"/reset/\1/" + TOKEN),
    # API tokens (accounts.tokens.PREFIX) and bearer headers.
    (re.compile(r"\bcs_[A-Za-z0-9_-]{20,}"), "cs_" + TOKEN),
    (re.compile(r"(?i)\b(bearer\s+)[^\s'\",]+"), r"\1" + TOKEN),
    # Fields: a query string or form (password=..., token=...), a dict or JSON ('password': '...').
    (
        re.compile(
            r"(?i)\b([\w-]*(?:password|passwd|token|secret)[\w-]*)"
            r"(['\"]?\s*[:=]\s*\[?['\"]?)([^\s&'\",;\]}]+)"
        ),
        r"\1\2" + MASK,
    ),
)


def redact(value: object) -> object:
    if not isinstance(value, str):
        return value
    for pattern, replacement in PATTERNS:
        value = pattern.sub(replacement, value)
    return value


class RedactSecrets(logging.Filter):
    """Masks the message, its arguments and the traceback's text of every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        # The message as it will be printed, masked as a whole: an argument that is not a
        # string (a request, a URL object, a dict of form data) is masked as well.
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # arguments that do not fit: logging prints them as is
            message = f"{record.msg} {record.args}"
        record.msg = redact(message)
        record.args = ()
        if record.exc_info and not record.exc_text:
            # Formatters print exc_text when it is set: the traceback, formatted once, masked.
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = str(redact(record.exc_text))
        return True
