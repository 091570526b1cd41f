"""The session store: Django's database store with a leaner read.

Every request of a signed-in user (each image the viewer loads is one) reads its session. The
stock store builds an ORM query for that each time, which costs several times more than running
it; this store reads the row with one fixed SQL statement. Same table, same rule (a session past
its expiry date is not found), same writes, so the database stays the single source of truth:
logging out or expiring a session ends it at once in every process. It sets the private
`_session_key` as the stock store does: README "Upgrade notes", tests/test_django_internals.py.

A per-process cache (the `cached_db` engine over the default local-memory cache) would be faster
still but is wrong with several gunicorn workers: a session ended in one process (logout, a guest
link revoked, a password change) would live on in the others' caches until they expire.
"""

from django.contrib.sessions.backends import db
from django.db import connections, router
from django.utils import timezone


class SessionStore(db.SessionStore):
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
