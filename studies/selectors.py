"""Read paths for studies: the worklist table, the study page, priors."""

import base64
import binascii
import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from django.core.cache import cache
from django.db.models import Count, F, OrderBy, Q, QuerySet

from audit.models import AuditEvent
from worklists.models import Worklist

from .models import Series, Study, WorklistEntry

# Each sort is a list of (field on WorklistEntry, descending). The last field is unique within a
# worklist (a study is in a worklist at most once), so the order is total and a page can be
# continued from its last row (keyset pagination): no OFFSET, so page 3000 costs what page 1 does.
# NULLs (studies without a date or time) come first when descending and last when ascending on
# every database, as PostgreSQL orders them by default, so its indexes serve both directions.
SORTS: dict[str, list[tuple[str, bool]]] = {
    "date": [("study__study_date", True), ("study__study_time", True), ("study_id", True)],
    "-date": [("study__study_date", False), ("study__study_time", False), ("study_id", False)],
    "name": [("study__patient_name", False), ("study__study_date", True), ("study_id", False)],
    "-name": [("study__patient_name", True), ("study__study_date", True), ("study_id", False)],
    "added": [("added_at", True), ("id", True)],
}
PAGE_SIZE = 25
# A filtered list is counted up to this many ("1000+ studies"): the count stays bounded however
# many studies match. The unfiltered count of a worklist comes from the cached counts.
COUNT_LIMIT = 1000
WORKLIST_COUNT_TTL = 300  # seconds; writes that add or remove entries drop the cached count
_NULLABLE = {"study__study_date", "study__study_time"}
_TYPES: dict[str, Any] = {
    "study__study_date": dt.date,
    "study__study_time": dt.time,
    "added_at": dt.datetime,
}


def worklist_entries(
    *,
    worklist: Worklist,
    query: str = "",
    modality: str = "",
    date_from: date | None = None,
    date_to: date | None = None,
    sort: str = "date",
) -> QuerySet[WorklistEntry]:
    """The studies table of one worklist. Permission is checked by the caller's access helper."""
    entries = WorklistEntry.objects.filter(worklist=worklist).select_related("study")
    for term in query.split():
        # Names and free text anywhere (trigram indexes on PostgreSQL); identifiers from their
        # start (prefix indexes): "1234" finds patient ID 12345, not A0012340.
        entries = entries.filter(
            Q(study__patient_name__icontains=term)
            | Q(study__patient_id__istartswith=term)
            | Q(study__accession_number__istartswith=term)
            | Q(study__study_description__icontains=term)
            | Q(study__referring_physician_name__icontains=term)
        )
    if modality:
        # Modalities are stored space-separated; pad so "CT" does not match "CTX".
        entries = entries.filter(study__modalities_in_study__regex=rf"(^| ){modality}( |$)")
    if date_from:
        entries = entries.filter(study__study_date__gte=date_from)
    if date_to:
        entries = entries.filter(study__study_date__lte=date_to)
    return entries.order_by(*_order_by(SORTS.get(sort, SORTS["date"])))


def _order_by(keys: list[tuple[str, bool]], *, reverse: bool = False) -> list[OrderBy]:
    order = []
    for field, descending in keys:
        descending = descending != reverse
        # NULLs first when descending, last when ascending (reversed together with the order).
        if descending:
            order.append(F(field).desc(nulls_first=True))
        else:
            order.append(F(field).asc(nulls_last=True))
    return order


def _after(keys: list[tuple[str, bool]], values: list[Any], *, reverse: bool = False) -> Q:
    """Rows strictly after `values` in the order `keys` (before them when `reverse`)."""
    (field, descending), rest = keys[0], keys[1:]
    value = values[0]
    descending = descending != reverse
    nulls_first = descending  # in the (possibly reversed) order being walked
    if value is None:
        later = Q(**{f"{field}__isnull": False}) if nulls_first else Q(pk__in=[])
        same = Q(**{f"{field}__isnull": True})
    else:
        later = Q(**{f"{field}__{'lt' if descending else 'gt'}": value})
        if field in _NULLABLE and not nulls_first:
            later |= Q(**{f"{field}__isnull": True})
        same = Q(**{field: value})
    if not rest:
        return later
    condition = later | (same & _after(rest, values[1:], reverse=reverse))
    if value is not None and not (field in _NULLABLE and not nulls_first):
        # The same bound again as a plain range on the leading column, which an index can seek
        # to directly (the OR above alone makes the database scan from the start).
        condition &= Q(**{f"{field}__{'lte' if descending else 'gte'}": value})
    return condition


def _encode(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.date | dt.time) else value


def _decode(field: str, value: Any) -> Any:
    kind = _TYPES.get(field)
    if value is None or kind is None:
        return value
    return kind.fromisoformat(value)


def _cursor(number: int, keys: list[tuple[str, bool]], row: dict[str, Any]) -> str:
    payload = json.dumps([number, [_encode(row[field]) for field, _ in keys]])
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def _read_cursor(token: str, keys: list[tuple[str, bool]]) -> tuple[int, list[Any]] | None:
    """The page number and sort values in a cursor, or None when it is not one of ours."""
    try:
        number, raw = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if not isinstance(number, int) or number < 1 or len(raw) != len(keys):
            return None
        values = [_decode(field, value) for (field, _), value in zip(keys, raw, strict=True)]
        if any(not isinstance(v, int | str | dt.date | dt.time | None) for v in values):
            return None
        return number, values
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        return None


@dataclass
class EntryPage:
    """One page of a worklist's table: its entries, where it is and how to move on."""

    entries: list[WorklistEntry]
    number: int
    count: int | None  # None when more than COUNT_LIMIT match (shown as "1000+")
    count_limit: int
    next_cursor: str | None
    previous_cursor: str | None

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.entries)

    @property
    def has_other_pages(self) -> bool:
        return bool(self.next_cursor or self.previous_cursor)

    @property
    def num_pages(self) -> int | None:
        if self.count is None:
            return None
        return max(1, -(-self.count // PAGE_SIZE))


def entry_page(
    entries: QuerySet[WorklistEntry],
    *,
    sort: str = "date",
    after: str = "",
    before: str = "",
    count: int | None = None,
    per_page: int = PAGE_SIZE,
) -> EntryPage:
    """A page of `worklist_entries(...)` in two queries whatever the page's depth.

    `after`/`before` are cursors from a previous page's `next_cursor`/`previous_cursor`; an
    unreadable one gives the first page. `count`, when the caller knows it (the cached count of
    an unfiltered worklist), saves the bounded count query.
    """
    keys = SORTS.get(sort, SORTS["date"])
    fields = [field for field, _ in keys]
    position = _read_cursor(after or before, keys) if (after or before) else None
    backwards = bool(before) and position is not None and not after
    number = 1
    if position is not None:
        previous_number, values = position
        entries = entries.filter(_after(keys, values, reverse=backwards))
        number = previous_number - 1 if backwards else previous_number + 1
        number = max(number, 1)
    rows = list(
        entries.order_by(*_order_by(keys, reverse=backwards)).annotate(
            **{f"_k{i}": F(field) for i, field in enumerate(fields)}
        )[: per_page + 1]
    )
    more = len(rows) > per_page
    rows = rows[:per_page]
    if backwards:
        rows.reverse()

    def key_of(entry: WorklistEntry) -> dict[str, Any]:
        return {field: getattr(entry, f"_k{i}") for i, field in enumerate(fields)}

    if backwards:
        has_next, has_previous = True, more
    else:
        has_next, has_previous = more, position is not None
    if backwards and not more:
        number = 1
    return EntryPage(
        entries=rows,
        number=number,
        count=count,
        count_limit=COUNT_LIMIT,
        next_cursor=_cursor(number, keys, key_of(rows[-1])) if rows and has_next else None,
        previous_cursor=(_cursor(number, keys, key_of(rows[0])) if rows and has_previous else None),
    )


def bounded_count(entries: QuerySet[WorklistEntry], limit: int | None = None) -> int | None:
    """How many entries match, or None when more than `limit` (COUNT_LIMIT) do: one query,
    whose work is bounded by the limit however many match."""
    limit = COUNT_LIMIT if limit is None else limit
    found = entries.order_by().values("pk")[: limit + 1].count()
    return None if found > limit else found


def _count_key(worklist_id: int) -> str:
    return f"worklist-studies:{worklist_id}"


def worklist_study_counts(worklists: Iterable[Worklist]) -> dict[int, int]:
    """Studies per worklist, from the cache; the missing ones in one grouped query.

    Entries added or removed drop their worklist's cached count (studies.signals and
    `forget_worklist_counts` for bulk writes), and counts expire after WORKLIST_COUNT_TTL.
    """
    ids = [worklist.pk for worklist in worklists]
    cached = cache.get_many([_count_key(pk) for pk in ids])
    counts = {pk: cached[_count_key(pk)] for pk in ids if _count_key(pk) in cached}
    missing = [pk for pk in ids if pk not in counts]
    if missing:
        fresh = dict.fromkeys(missing, 0)
        fresh.update(
            WorklistEntry.objects.filter(worklist_id__in=missing)
            .order_by()
            .values_list("worklist_id")
            .annotate(n=Count("id"))
            .values_list("worklist_id", "n")
        )
        cache.set_many({_count_key(pk): n for pk, n in fresh.items()}, WORKLIST_COUNT_TTL)
        counts.update(fresh)
    return counts


def forget_worklist_counts(worklist_ids: Iterable[int]) -> None:
    cache.delete_many([_count_key(pk) for pk in set(worklist_ids)])


def study_series(study: Study) -> QuerySet[Series]:
    return study.series.all().prefetch_related("instances").order_by("series_number", "id")


def study_priors(*, study: Study, worklists: Any) -> QuerySet[Study]:
    """Earlier studies of the same patient in the given worklists."""
    if not study.patient_id:
        return Study.objects.none()
    priors = Study.objects.filter(
        patient_id=study.patient_id,
        issuer_of_patient_id=study.issuer_of_patient_id,
        entries__worklist__in=worklists,
    ).exclude(pk=study.pk)
    if study.study_date:
        priors = priors.filter(Q(study_date__lt=study.study_date) | Q(study_date__isnull=True))
    return priors.distinct().order_by("-study_date", "-id")


def study_entry_note(*, study: Study, worklist: Worklist) -> str:
    """How the study arrived in this worklist, in words, when its entry says (an upload link's
    uploads: "Uploaded by ... through upload link ...")."""
    return (
        WorklistEntry.objects.filter(worklist=worklist, study=study)
        .values_list("note", flat=True)
        .first()
        or ""
    )


# --- The study's access history (the audit trail, as the study page shows it) -------------

ACCESS_HISTORY_PANEL = 10  # on the study page; the rest on its own page
ACCESS_HISTORY_PAGE = 50


def study_access_history(*, study: Study, worklist: Worklist) -> QuerySet[AuditEvent]:
    """The study's audit events that this worklist's people may read, newest first.

    Only what happened on this side: events of people in the worklist's organisation (for a
    personal worklist, its owner), and events of the guest and upload links made in this
    worklist (guest opens, wrong passwords, deliveries, uploads), with their address and
    browser. Another organisation's opens of the same study, or its links, are not shown: it
    shares the study, not its own trail. One query (the links are a subquery)."""
    guest_links = Q(
        action=AuditEvent.Action.GUESTLINK_CREATED, study_instance_uid=study.study_instance_uid
    )
    links_here = (
        AuditEvent.objects.filter(guest_links | Q(action=AuditEvent.Action.UPLOADLINK_CREATED))
        .filter(details__worklist=str(worklist.public_id))
        .values("guest_link_id")
    )
    if worklist.organisation_id is not None:
        people_here = Q(actor__organisation_id=worklist.organisation_id)
    else:
        people_here = Q(actor_id=worklist.owner_id)
    return (
        AuditEvent.objects.filter(study_instance_uid=study.study_instance_uid)
        .filter(people_here | Q(guest_link_id__in=links_here))
        .select_related("actor")
        .order_by("-created_at", "-id")
    )
