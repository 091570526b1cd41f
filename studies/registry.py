"""What the apps above studies lend it, registered in their `AppConfig.ready`.

studies never imports the apps above it (see the README's import order). Where a study page or
an ingest needs something only they know, they register it here:
- study page panels: each a function of (user, study, worklist, worklists) whose result the
  study page's template finds under the panel's name (sharing: "sharing", guest links:
  "guestlinks_panel"; DICOM networking: "dicomnet_panel");
- guest access: which studies the request's guest session may see, and why it ended (guest
  links), asked on every image request by dicomweb;
- after ingest: what to do with a study whose new images are committed (dicomweb pre-renders
  them).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol
from uuid import UUID

from django.http import HttpRequest

StudyPanel = Callable[..., Any]
AfterIngest = Callable[[int], None]


class GuestAccess(Protocol):
    def guest_study_ids(self, request: HttpRequest) -> set[int]: ...

    def guest_link_ended_message(self, request: HttpRequest) -> str | None: ...

    def guest_link_id(self, request: HttpRequest) -> UUID | None: ...


_study_panels: dict[str, StudyPanel] = {}
_guest_access: list[GuestAccess] = []
_after_ingest: list[AfterIngest] = []


def register_study_panel(name: str, panel: StudyPanel) -> None:
    """`panel(user=, study=, worklist=, worklists=)` fills the study page's `name`."""
    _study_panels[name] = panel


def study_panels(*, user: Any, study: Any, worklist: Any, worklists: list[Any]) -> dict[str, Any]:
    return {
        name: panel(user=user, study=study, worklist=worklist, worklists=worklists)
        for name, panel in _study_panels.items()
    }


def register_guest_access(access: GuestAccess) -> None:
    if access not in _guest_access:
        _guest_access.append(access)


def guest_access() -> list[GuestAccess]:
    return list(_guest_access)


def register_after_ingest(callback: AfterIngest) -> None:
    """`callback(study_id)` runs after the transaction that added images to the study commits."""
    if callback not in _after_ingest:
        _after_ingest.append(callback)


def after_ingest() -> list[AfterIngest]:
    return list(_after_ingest)
