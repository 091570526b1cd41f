"""The whole test run's log, searched at its end for every secret the run made.

Every log line the application writes goes to the console handler configured in LOGGING, through
its filters (links.logs.RedactSecrets masks tokens and passwords). For the whole run a handler
with the same filters and formatter sits beside it on the root logger and keeps each formatted
line: what an operator's log would hold. Meanwhile, every secret is collected where it is made,
whichever test, factory or service makes it:

- guest and upload-link tokens: each link row saved (post_save), its `token`;
- invitation tokens: `sharing.invitations.make_token`, the one function that makes them;
- API tokens: `accounts.tokens.new_token`;
- password-reset tokens: Django's `PasswordResetTokenGenerator.make_token`;
- passwords (users' and links'): every password hasher's `encode`, through which every
  password that is stored passes (users, guest and upload links, the factories' one hash).

When the run ends, each secret is searched for in the kept lines; one found fails the run (an
error at the teardown of the last test) with the line it was found in. Secrets shorter than 8
characters, and passwords of digits only (a birth date as YYYYMMDD, which a log may show as a
study date for other reasons), are not searched for: they would match unrelated text.
The lines kept are those at the configured level (LOG_LEVEL, INFO by default), as in production.

`tests/test_log_leaks.py` proves the search can fail: it runs a small test that logs a password
plainly in a pytest of its own, and sees that run fail.
"""

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.db.models.signals import post_save
from django.utils.module_loading import import_string

MIN_LENGTH = 8


@dataclass
class Secrets:
    found: dict[str, str] = field(default_factory=dict)  # secret -> what kind it is

    def add(self, kind: str, value: object) -> None:
        if not isinstance(value, str) or len(value) < MIN_LENGTH:
            return
        if kind == "password" and value.isdigit():
            return
        self.found.setdefault(value, kind)


class RunLog(logging.Handler):
    """Keeps every line as the configured handler would write it."""

    def __init__(self, like: logging.Handler | None) -> None:
        super().__init__()
        self.lines: list[str] = []
        if like is not None:
            self.filters = list(like.filters)
            self.setFormatter(like.formatter)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(self.format(record))
        except Exception:  # noqa: BLE001 (a line that cannot be formatted is not written either)
            self.handleError(record)


def configured_handler() -> logging.Handler | None:
    """The root's handler from LOGGING (the console): its filters are what is being tested."""
    for handler in logging.getLogger().handlers:
        if any(type(f).__module__ == "links.logs" for f in handler.filters):
            return handler
    return None


def leaks(lines: list[str], secrets: Secrets) -> list[str]:
    text = "\n".join(lines)
    found = []
    for secret, kind in secrets.found.items():
        if secret in text:
            line = next(line for line in lines if secret in line)
            found.append(f"a {kind} ({secret[:4]}...) is in the log: {line[:300]}")
    return found


def _record_link_token(sender: Any, instance: Any, **kwargs: Any) -> None:
    from links.models import BearerLink

    if isinstance(instance, BearerLink):
        COLLECTED.add("link token", instance.token)


COLLECTED = Secrets()


@pytest.fixture(scope="session", autouse=True)
def log_leak_guard() -> Iterator[Secrets]:
    from accounts import tokens
    from sharing import invitations

    handler = configured_handler()
    assert handler is not None, "LOGGING has no handler with the links.logs filter on the root"
    run_log = RunLog(handler)
    root = logging.getLogger()
    root.addHandler(run_log)
    post_save.connect(_record_link_token, dispatch_uid="log_leak_guard")

    def collecting(kind: str, function: Any) -> Any:
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            result = function(*args, **kwargs)
            COLLECTED.add(kind, result)
            return result

        return wrapped

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tokens, "new_token", collecting("API token", tokens.new_token))
        patch.setattr(
            invitations, "make_token", collecting("invitation token", invitations.make_token)
        )
        patch.setattr(
            PasswordResetTokenGenerator,
            "make_token",
            collecting("password-reset token", PasswordResetTokenGenerator.make_token),
        )
        hashers = [*settings.PASSWORD_HASHERS, "django.contrib.auth.hashers.MD5PasswordHasher"]
        for hasher in {import_string(path) for path in hashers}:
            patch.setattr(hasher, "encode", _collecting_encode(hasher.encode))
        yield COLLECTED
    post_save.disconnect(dispatch_uid="log_leak_guard")
    root.removeHandler(run_log)
    found = leaks(run_log.lines, COLLECTED)
    assert not found, "Secrets in the logs:\n" + "\n".join(found)


def _collecting_encode(encode: Any) -> Any:
    def wrapped(self: Any, password: str, *args: Any, **kwargs: Any) -> Any:
        COLLECTED.add("password", password)
        return encode(self, password, *args, **kwargs)

    return wrapped
