"""The session store: Django's database store with a leaner read, a user column, and the
clinician's session limits.

Every request of a signed-in user (each image the viewer loads is one) reads its session. The
stock store builds an ORM query for that each time, which costs several times more than running
it; this store reads the row with one fixed SQL statement. Same rule (a session past its expiry
date is not found), same writes, so the database stays the single source of truth: logging out
or expiring a session ends it at once in every process. It sets the private `_session_key` as
the stock store does: README "Upgrade notes", tests/test_django_internals.py.

The rows are `accounts.UserSession` (Django's documented way to extend the database store):
the signed-in user's id is a column, so `sessions_end_for_user` ends every session of a user
with one DELETE.

A clinician's session ends after CLINICIAN_SESSION_IDLE_SECONDS without a request and
CLINICIAN_SESSION_MAX_SECONDS after the login, whatever the activity. Both are the row's own
expiry date: `clinician_session_start` (at login) and `clinician_session_renew` (on a request,
at most once a minute, so that a page of images does not write the session per image) set it
to the earlier of "now + idle" and "login + lifetime". The read above then finds nothing past
it, in every process, with no extra query. Renewing at most once a minute means a session may
end up to a minute before its idle time is up, never after.

A per-process cache (the `cached_db` engine over the default local-memory cache) would be faster
still but is wrong with several gunicorn workers: a session ended in one process (logout, a guest
link revoked, a password change) would live on in the others' caches until they expire.
"""

from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.contrib.auth import SESSION_KEY as USER_ID_KEY
from django.contrib.sessions.backends import db
from django.contrib.sessions.backends.base import SessionBase
from django.db import connections, router
from django.utils import timezone

CLINICIAN_KEY = "clinician"
RENEW_AFTER_SECONDS = 60


class SessionStore(db.SessionStore):
    @classmethod
    def get_model_class(cls) -> Any:
        from .models import UserSession

        return UserSession

    def create_model_instance(self, data: dict[str, Any]) -> Any:
        session: Any = super().create_model_instance(data)  # a UserSession
        user_id = data.get(USER_ID_KEY)
        session.user_id = int(user_id) if user_id is not None and str(user_id).isdigit() else None
        return session

    def load(self) -> dict:
        model = self.model
        connection = connections[router.db_for_read(model)]
        table = connection.ops.quote_name(model._meta.db_table)
        now = connection.ops.adapt_datetimefield_value(timezone.now())
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT session_data FROM {table} WHERE session_key = %s AND expire_date > %s",  # noqa: S608 (table name from the model)
                [self.session_key, now],
            )
            row = cursor.fetchone()
        if row is None:
            self._session_key = None  # as the stock store: a fresh key is issued if it saves
            return {}
        return self.decode(row[0])


def _expiry(started: float, now: float) -> datetime:
    ends = min(
        now + settings.CLINICIAN_SESSION_IDLE_SECONDS,
        started + settings.CLINICIAN_SESSION_MAX_SECONDS,
    )
    return datetime.fromtimestamp(ends, tz=UTC)


def clinician_session_start(session: SessionBase) -> None:
    """At login: the session's lifetime starts now."""
    now = timezone.now().timestamp()  # timezone.now(): the clock the store's read uses
    session[CLINICIAN_KEY] = {"started": int(now), "renewed": int(now)}
    session.set_expiry(_expiry(now, now))


def clinician_session_renew(session: SessionBase) -> None:
    """On a signed-in user's request: push the idle end on, at most once a minute (the only
    write), never past the absolute end. A session from before these limits starts now."""
    data = session.get(CLINICIAN_KEY)
    if not isinstance(data, dict):
        clinician_session_start(session)
        return
    now = timezone.now().timestamp()
    if now - float(data.get("renewed", 0)) < RENEW_AFTER_SECONDS:
        return
    started = float(data.get("started", now))
    session[CLINICIAN_KEY] = {"started": int(started), "renewed": int(now)}
    session.set_expiry(_expiry(started, now))
