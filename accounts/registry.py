"""What the apps above accounts do when a user is created, registered in their
`AppConfig.ready` (worklists gives every new user a personal worklist).

accounts never imports the apps above it; `accounts.services.user_create` and the User
manager's create_user/create_superuser (every path that makes a user) call `user_created` once
the new row is saved.
"""

from collections.abc import Callable
from typing import Any

UserCreated = Callable[[Any], None]

_user_created: list[UserCreated] = []


def register_user_created(callback: UserCreated) -> None:
    if callback not in _user_created:
        _user_created.append(callback)


def user_created(user: Any) -> None:
    """Run every registered callback for a user whose row was just created."""
    for callback in _user_created:
        callback(user)
