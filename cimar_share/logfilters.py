"""Logging filters for the settings' LOGGING."""

import logging


class ClientErrorsWithoutTraceback(logging.Filter):
    """A refused request (403 permission denied, 400 bad request) is logged by Django with the
    exception's traceback, which says nothing an operator needs and buries real faults: keep
    the one line. Server errors (5xx) keep their tracebacks."""

    def filter(self, record: logging.LogRecord) -> bool:
        status = getattr(record, "status_code", None)
        if record.exc_info and isinstance(status, int) and status < 500:
            record.exc_info = None
            record.exc_text = None
        return True
