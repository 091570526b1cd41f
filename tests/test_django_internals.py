"""The Django internals Cimar Share relies on (README "Upgrade notes"): each is checked here for
the shape we use, so that an upgrade that renames or changes one fails this file, with the
note's name, instead of quietly changing behaviour.

Why each is kept (figures and how to rerun them: README "Upgrade notes"):
- `CsrfViewMiddleware._origin_verified` (links.http.LinkCsrf): guest pages send no
  referrer, so browsers post their forms with `Origin: null`, which stock Django refuses over
  https; no public setting accepts it for those views only.
- the ORM's column converters, `Field.get_col`, `Model.from_db` and the relation's
  `set_cached_value` (accounts.backends): the signed-in user and organisation in one fixed query.
- `SessionBase._session_key` (accounts.sessions): a session that is not found gets a fresh key,
  as with the stock store.
"""

import inspect

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.sessions.backends.base import SessionBase
from django.db import connection
from django.db.models import Field, Model
from django.middleware.csrf import CsrfViewMiddleware
from django.test import Client
from django.urls import reverse

from guestlinks import services
from guestlinks.models import GuestLink
from links.http import LinkCsrf


def parameters(function) -> list[str]:  # type: ignore[no-untyped-def]
    return list(inspect.signature(function).parameters)


# --- _origin_verified ------------------------------------------------------------------------


def test_origin_verified_is_still_the_hook_the_csrf_middleware_calls():
    assert parameters(CsrfViewMiddleware._origin_verified) == ["self", "request"]
    assert "self._origin_verified(request)" in inspect.getsource(CsrfViewMiddleware.process_view)
    assert "_origin_verified" in vars(LinkCsrf)


@pytest.mark.django_db
def test_over_https_a_null_origin_passes_the_guest_gate_only(owner, study, worklist):
    """The measurement that keeps the override: stock Django refuses the `Origin: null` that
    browsers send from no-referrer pages (here the login form), the guest gate accepts it with
    a valid token, and still refuses another origin."""
    strict = Client(enforce_csrf_checks=True)
    login_url = reverse("accounts:login")
    strict.get(login_url, secure=True)
    form = {
        "csrfmiddlewaretoken": strict.cookies[settings.CSRF_COOKIE_NAME].value,
        "username": "nobody",
        "password": "wrong-password",
    }
    assert strict.post(login_url, form, secure=True, HTTP_ORIGIN="null").status_code == 403
    assert (
        strict.post(login_url, form, secure=True, HTTP_ORIGIN="https://testserver").status_code
        == 200
    )

    link = services.guestlink_create(actor=owner, study=study, worklist=worklist, max_uses=5)
    gate = link.get_absolute_url()
    strict.get(gate, secure=True)
    form = {"csrfmiddlewaretoken": strict.cookies[settings.CSRF_COOKIE_NAME].value}
    assert (
        strict.post(gate, form, secure=True, HTTP_ORIGIN="https://evil.example").status_code == 403
    )
    assert strict.post(gate, {}, secure=True, HTTP_ORIGIN="null").status_code == 403  # no token
    assert GuestLink.objects.get(pk=link.pk).use_count == 0
    assert strict.post(gate, form, secure=True, HTTP_ORIGIN="null").status_code == 303
    assert GuestLink.objects.get(pk=link.pk).use_count == 1


# --- the ORM's converters (accounts.backends) ---------------------------------------------------


def test_the_orm_pieces_the_user_loader_uses_keep_their_shape():
    field = get_user_model()._meta.get_field("date_joined")
    column = field.get_col(field.model._meta.db_table)
    assert parameters(connection.ops.get_db_converters) == ["expression"]
    assert parameters(Field.get_db_converters) == ["self", "connection"]
    assert parameters(Field.get_col) == ["self", "alias", "output_field"]
    assert parameters(Model.from_db.__func__) == ["cls", "db", "field_names", "values"]
    link = get_user_model()._meta.get_field("organisation")
    assert parameters(link.set_cached_value) == ["instance", "value"]
    # Each converter is called as converter(value, expression, connection), as the ORM's
    # SQLCompiler.apply_converters does.
    from django.db.models.sql.compiler import SQLCompiler

    assert "converter(value, expression, connection)" in inspect.getsource(
        SQLCompiler.apply_converters
    )
    for converter in connection.ops.get_db_converters(column) + field.get_db_converters(connection):
        assert len(parameters(converter)) == 3


# --- _session_key (accounts.sessions) ---------------------------------------------------------


def test_session_key_still_has_a_private_setter_that_validates():
    assert parameters(connection.ops.adapt_datetimefield_value) == ["value"]
    hook = inspect.getattr_static(SessionBase, "_session_key")
    assert isinstance(hook, property) and hook.fset is not None
    store = SessionBase("a" * 32)
    store._session_key = None
    assert store.session_key is None
    store._session_key = "short"  # an invalid key is refused, as the stock store relies on
    assert store.session_key is None
