"""Link passwords use the lighter Argon2id of links/passwords.py; older hashes still open and
are upgraded on the first right password, never on a wrong one."""

import pytest
from django.contrib.auth.hashers import Argon2PasswordHasher, PBKDF2PasswordHasher, make_password

from guestlinks.models import GuestLink
from links.passwords import LINK_PASSWORD_HASHER, link_password_matches
from tests.guestlinks.conftest import open_link, viewer_url

pytestmark = pytest.mark.django_db


def parameters(encoded: str) -> tuple[int, int, int]:
    decoded = Argon2PasswordHasher().decode(encoded)
    return decoded["memory_cost"], decoded["time_cost"], decoded["parallelism"]


def test_a_new_link_password_is_hashed_with_the_link_parameters(make_link):
    link = make_link(password="blue-heron-42")
    assert link.password_hash.startswith("argon2$argon2id$")
    assert parameters(link.password_hash) == (19 * 1024, 2, 1)
    assert parameters(link.password_hash) != parameters(make_password("blue-heron-42"))


@pytest.mark.parametrize(
    "old_hasher", [Argon2PasswordHasher(), PBKDF2PasswordHasher()], ids=["argon2", "pbkdf2"]
)
def test_an_older_hash_opens_and_is_upgraded_on_the_right_password_only(
    client, make_link, old_hasher
):
    link = make_link(password="blue-heron-42", max_password_attempts=5)
    old = make_password("blue-heron-42", hasher=old_hasher)
    GuestLink.objects.filter(pk=link.pk).update(password_hash=old)

    assert open_link(client, link, "wrong-password-1").status_code == 403
    link.refresh_from_db()
    assert link.password_hash == old  # a wrong password changes nothing but the count

    response = open_link(client, link, "blue-heron-42")
    assert response.status_code == 303 and response["Location"] == viewer_url(link.study)
    link.refresh_from_db()
    assert link.password_hash != old
    assert parameters(link.password_hash) == (19 * 1024, 2, 1)
    assert link_password_matches("blue-heron-42", link.password_hash)
    assert not link_password_matches("blue-heron-43", link.password_hash)


def test_a_current_hash_is_not_rewritten():
    encoded = make_password("blue-heron-42", hasher=LINK_PASSWORD_HASHER)
    rewritten = []
    assert link_password_matches("blue-heron-42", encoded, rehashed=rewritten.append)
    assert rewritten == []
