"""What loading the session and the signed-in user costs per request, ours against Django's
stock classes (`make bench`, or on its own: `.venv/bin/python -m bench.loading`).

Every signed-in request (and each image the viewer loads is one) reads its session and its user
with the organisation. accounts/sessions.py and accounts/backends.py do that with fixed SQL and,
for the user, Django's own column converters (internals listed in README "Upgrade notes"); this
measures whether they still earn their keep against the public APIs:
- session: `accounts.sessions.SessionStore.load` against `django.contrib.sessions.backends.db`;
- user: `accounts.backends.UserBackend.get_user` (one fixed query) against the same answer from
  the ORM in one query (`select_related`) and Django's stock `ModelBackend` (two queries).
Runs against the configured database (DATABASE_URL, or SQLite), in a transaction rolled back at
the end; the figure is the median of 7 rounds of 2,000 calls, in microseconds per call.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

from bench import setup_django

CALLS = 2000
ROUNDS = 7


def per_call_us(function: Callable[[], Any]) -> float:
    for _ in range(200):  # warm: plans built, connection open
        function()
    rounds = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        for _ in range(CALLS):
            function()
        rounds.append((time.perf_counter() - start) / CALLS * 1e6)
    return round(statistics.median(rounds), 1)


class _Rollback(Exception):
    pass


def measure() -> dict[str, float | str]:
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.contrib.auth.backends import ModelBackend
    from django.contrib.sessions.backends import db as stock_sessions
    from django.db import connection, transaction

    from accounts.backends import UserBackend
    from accounts.models import Organisation
    from accounts.sessions import SessionStore

    settings.DEBUG = False  # as in production: no query log (DJANGO_DEBUG=1 keeps one per query)
    figures: dict[str, float | str] = {"database": connection.vendor}
    try:
        with transaction.atomic():
            organisation = Organisation.objects.create(name="Bench", time_zone="Europe/Paris")
            user = get_user_model().objects.create_user(
                username="bench-loading", organisation=organisation
            )
            store = SessionStore()
            store["_auth_user_id"] = str(user.pk)
            store.create()
            key, user_id = store.session_key, str(user.pk)

            def time_zone(loaded: Any) -> str:  # what OrganisationTimezoneMiddleware reads
                return str(loaded.organisation.time_zone)

            def ours_user() -> str:
                return time_zone(UserBackend().get_user(user_id))

            def orm_one_query() -> str:
                backend = ModelBackend()
                found = (
                    get_user_model()._default_manager.select_related("organisation").get(pk=user_id)
                )
                assert backend.user_can_authenticate(found)
                return time_zone(found)

            def stock_user() -> str:
                return time_zone(ModelBackend().get_user(user_id))

            assert ours_user() == orm_one_query() == stock_user() == "Europe/Paris"
            figures["user: ours, fixed SQL and converters (1 query)"] = per_call_us(ours_user)
            figures["user: ORM select_related (1 query)"] = per_call_us(orm_one_query)
            figures["user: stock ModelBackend (2 queries)"] = per_call_us(stock_user)

            # The stock ORM read, on our table. Named SessionStore as ours: a store's class
            # name is part of the salt its data is signed with.
            StockStore = type(
                "SessionStore",
                (stock_sessions.SessionStore,),
                {"get_model_class": SessionStore.get_model_class},
            )
            assert SessionStore(key).load() == StockStore(key).load()
            figures["session: ours, fixed SQL"] = per_call_us(lambda: SessionStore(key).load())
            figures["session: stock db store"] = per_call_us(lambda: StockStore(key).load())
            raise _Rollback
    except _Rollback:
        pass
    return figures


def print_figures(figures: dict[str, float | str]) -> None:
    print(f"\nLoading a signed-in request ({figures['database']}; microseconds per call)")
    for name, value in figures.items():
        if name != "database":
            print(f"  {name:52} {value!s:>8} us")


def main() -> None:
    setup_django()
    print_figures(measure())


if __name__ == "__main__":
    main()
