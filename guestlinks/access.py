"""Guest sessions: which studies the request's guest session reaches.

A browser is either a clinician or a guest, never both at once:
- opening a guest link logs out a clinician signed in in that browser (the session is
  flushed and a new key issued before the guest data is written);
- logging in ends a guest session (a `user_logged_in` receiver drops the guest data), and guest
  data is ignored whenever the request has an authenticated user.

A guest session stores only the link's id, the study ids granted when it was opened and when it
was last seen. It is re-checked on every request against the link itself, so deleting, locking
or expiring the link ends it at once; a used-up link keeps the sessions it already granted. It
ends after GUEST_SESSION_IDLE_SECONDS without a request and never outlives the link's expiry.

The viewer's image endpoints (`dicomweb.frames`) ask `guest_study_ids(request)` on every
request. When a session ends because its link was deleted, locked or expired, the session keeps
a note of who shared the link (their name, never their email), so that every later image
request can tell the guest plainly whom to ask for a new link (`guest_link_ended_message`).
"""

import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from django.conf import settings
from django.contrib.auth import logout
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest
from django.utils import timezone

from links.access import get_link_for_user
from studies.models import Study, WorklistEntry
from worklists.models import Worklist

from .models import MAX_LINK_STUDIES, GuestLink

SESSION_KEY = "guestlink"
ENDED_KEY = "guestlink_ended"
_CACHE_ATTR = "_guest_session"


@dataclass(frozen=True)
class GuestSession:
    link: GuestLink
    study_ids: frozenset[int]
    # When this session ends if nothing else happens: idle timeout or the link's expiry.
    ends_at: datetime


def _idle_seconds() -> int:
    return int(settings.GUEST_SESSION_IDLE_SECONDS)


def guest_session_start(request: HttpRequest, *, link: GuestLink, study_ids: set[int]) -> None:
    """Begin a fresh guest session under a new session key, ending any clinician's session."""
    if getattr(request, "user", None) is not None and request.user.is_authenticated:
        logout(request)  # flushes the session and sets an anonymous user
    else:
        request.session.flush()
    request.session[SESSION_KEY] = {
        "link": link.pk,
        "studies": sorted(study_ids),
        "seen": int(time.time()),
    }
    request.session.set_expiry(_idle_seconds())
    if hasattr(request, _CACHE_ATTR):
        delattr(request, _CACHE_ATTR)


def guest_session_end(request: HttpRequest) -> None:
    session = getattr(request, "session", None)
    if session is not None and SESSION_KEY in session:
        del session[SESSION_KEY]
    setattr(request, _CACHE_ATTR, None)


def _load(request: HttpRequest) -> GuestSession | None:
    session = getattr(request, "session", None)
    data = session.get(SESSION_KEY) if session is not None else None
    if session is None or not isinstance(data, dict):
        return None
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        guest_session_end(request)
        return None
    now = time.time()
    seen = int(data.get("seen", 0))
    idle = _idle_seconds()
    if now - seen >= idle:
        guest_session_end(request)
        return None
    link = (
        GuestLink.objects.select_related("study", "worklist", "created_by__organisation")
        .filter(pk=int(data.get("link", 0)))
        .first()
    )
    if link is None or not link.allows_session_at(timezone.now()):
        guest_session_end(request)
        session[ENDED_KEY] = {"shared_by": _shared_by(link)}
        return None
    if now - seen >= min(60, idle / 4):
        # Touch at most once a minute: keeps the session alive without a write per image.
        data["seen"] = int(now)
        session[SESSION_KEY] = data
        seen = int(now)
    idle_end = datetime.fromtimestamp(seen, tz=timezone.get_current_timezone()) + timedelta(
        seconds=idle
    )
    return GuestSession(
        link=link,
        study_ids=frozenset(int(pk) for pk in data.get("studies", [])),
        ends_at=min(idle_end, link.expires_at),
    )


def get_guest_session(request: HttpRequest) -> GuestSession | None:
    """The request's live guest session, checked against its link once per request."""
    if not hasattr(request, _CACHE_ATTR):
        setattr(request, _CACHE_ATTR, _load(request))
    return getattr(request, _CACHE_ATTR)


def guest_study_ids(request: HttpRequest) -> set[int]:
    """Study ids the request's guest session may see; empty without a live guest session."""
    guest = get_guest_session(request)
    return set(guest.study_ids) if guest is not None else set()


def guest_link_id(request: HttpRequest) -> UUID | None:
    """The public id of the link behind the request's live guest session, if any."""
    guest = get_guest_session(request)
    return guest.link.public_id if guest is not None else None


def _shared_by(link: GuestLink | None) -> str:
    """Who to ask for a new link: the creator's name and organisation, never an email address
    (a username may be one)."""
    creator = link.created_by if link is not None else None
    if creator is None:
        return ""
    name = creator.display_name if "@" not in creator.display_name else ""
    organisation = creator.organisation.name if creator.organisation else ""
    if name and organisation:
        return f"{name} ({organisation})"
    return name or organisation


def guest_link_ended_message(request: HttpRequest) -> str | None:
    """What to tell a guest whose session ended because its link no longer opens (deleted,
    locked or expired); None when the request had no such session."""
    get_guest_session(request)  # ends a session whose link is gone, leaving the note
    session = getattr(request, "session", None)
    ended = session.get(ENDED_KEY) if session is not None else None
    if not isinstance(ended, dict):
        return None
    who = ended.get("shared_by") or "the person who shared it with you"
    return f"This link is no longer available; ask {who} for a new one."


def get_guest_study(guest: GuestSession, public_id: Any) -> Study | None:
    """A study this guest session reaches (its link's study, or a prior it included), by
    public id; None for any other, whether or not it exists."""
    return Study.objects.filter(public_id=public_id, pk__in=guest.study_ids).first()


# --- The clinician's side ---------------------------------------------------------------------


def get_guestlink_for_user(user: Any, public_id: Any) -> GuestLink:
    """A link its creator, or anyone who sees its worklist, may see (else 404); whether they
    may delete it is the service's to decide (403)."""
    return get_link_for_user(GuestLink.objects.select_related("study"), user, public_id)


def get_link_studies(*, worklist: Worklist, study_ids: list[str]) -> list[Study]:
    """The chosen studies in `worklist` (whose access the caller checked), in no particular
    order: 404 when any of them is not there or is not a study id at all, a ValidationError
    for more than one link may open. None chosen is an empty list."""
    if len(set(study_ids)) > MAX_LINK_STUDIES:  # refused before any is parsed or looked up
        raise ValidationError(
            {"studies": f"One guest link can open at most {MAX_LINK_STUDIES} studies."}
        )
    try:
        wanted = {uuid.UUID(str(value)) for value in study_ids}
    except ValueError:
        raise Http404("No such study.") from None
    entries = WorklistEntry.objects.filter(worklist=worklist, study__public_id__in=wanted)
    studies = [entry.study for entry in entries.select_related("study")]
    if len(studies) != len(wanted):
        raise Http404("No such study in this worklist.")
    return studies
