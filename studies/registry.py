"""What the apps above studies lend it, registered in their `AppConfig.ready`.

studies never imports the apps above it (see the README's import order). Where a study page or
an ingest needs something only they know, they register it here:
- study page panels: each a function of (user, study, worklist, worklists) whose result the
  study page's template finds under the panel's name (sharing: "sharing", guest links:
  "guestlinks_panel"; DICOM networking: "dicomnet_panel");
- guest access: which studies the request's guest session may see, and why it ended (guest
  links), asked on every image request by dicomweb;
- after ingest: what to do with a study whose new images are committed (dicomweb pre-renders
  them);
- worklist actions: the buttons of the worklist page's selection bar, each a view of the app
  that registers it taking the selected studies (guest links: "Create guest link"; DICOM
  networking: "Send to PACS…").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol
from uuid import UUID

from django.http import HttpRequest

from worklists.access import has_worklist_perm

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


# --- The worklist page's selection bar --------------------------------------------------------


@dataclass(frozen=True)
class WorklistAction:
    """A button under the worklist's selection: it sends the selected studies to its view."""

    name: str  # "guestlink", "send_to_pacs"
    label: str  # the button's text
    # Reversed with kwargs={"worklist_id": worklist.public_id}; the view receives
    # GET ?study=<study public_id>&study=...
    url_name: str
    permission: str  # the worklist permission codename the user needs to see the button


_worklist_actions: dict[str, WorklistAction] = {}


def register_worklist_action(action: WorklistAction) -> None:
    """Add a selection-bar button (registering a name again replaces it, in place)."""
    _worklist_actions[action.name] = action


def worklist_actions(*, user: Any, worklist: Any) -> list[WorklistAction]:
    """The actions whose permission `user` holds on `worklist`, in registration order (the
    permissions are the ones the worklist page already asked for: no query of its own)."""
    return [
        action
        for action in _worklist_actions.values()
        if has_worklist_perm(user, action.permission, worklist)
    ]
