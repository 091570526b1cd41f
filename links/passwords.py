"""Link passwords (guest links, upload links): hashed with a lighter Argon2id than accounts'.

Why lighter. A link password is checked by the gate, on the path between the recipient's tap
on "Open study" and the first image: Django's default Argon2 (time_cost 2, memory 100 MiB,
parallelism 8) took about 1.3 s of the phone's 1.8 s to the first image on a loaded 2-core
server (bench/phone.py), and every concurrent check holds another 100 MiB. The cost of a hash
protects a password only offline, after a database leak; online, a link is protected by its
max-attempts lock (a few wrong passwords and it opens no more) and the gate's rate limits.
Offline, a birth-date password (about 40,000 likely values) falls to any hash cost in minutes,
and a link expires in days, so a heavier hash buys little for links; account passwords, which
live for years and are reused elsewhere, keep Django's default.

The parameters are OWASP's minimum for Argon2id (Password Storage Cheat Sheet): 19 MiB of
memory, 2 iterations, 1 lane. The algorithm name stays "argon2" and the parameters are in
each hash, so every existing link hash (default Argon2, or PBKDF2) still verifies through the
hashers in settings.PASSWORD_HASHERS, and is re-hashed with these parameters the first time
its right password is given (`link_password_matches`).
"""

from collections.abc import Callable

from django.contrib.auth.hashers import Argon2PasswordHasher, check_password, make_password


class LinkPasswordHasher(Argon2PasswordHasher):
    """Argon2id at OWASP's minimum: only for link passwords (see the module's docstring)."""

    time_cost = 2
    memory_cost = 19 * 1024  # KiB
    parallelism = 1


LINK_PASSWORD_HASHER = LinkPasswordHasher()


def link_password_hash(password: str) -> str:
    """The stored form of a link's password."""
    return make_password(password, hasher=LINK_PASSWORD_HASHER)


def link_password_matches(
    password: str, encoded: str, *, rehashed: Callable[[str], None] | None = None
) -> bool:
    """Whether `password` is the one `encoded` was made from (in constant time, by the
    hasher). When it is and `encoded` was made with other parameters (older links), `rehashed`
    is given the new hash to store."""

    def setter(raw: str) -> None:
        if rehashed is not None:
            rehashed(link_password_hash(raw))

    # Django takes a hasher instance as `preferred` (get_hasher returns it as is); the stubs
    # know only the name of one in settings.PASSWORD_HASHERS.
    return check_password(
        password,
        encoded,
        setter=setter,
        preferred=LINK_PASSWORD_HASHER,  # type: ignore[arg-type]
    )
