"""Who may see what through the DICOMweb API (QIDO-RS, WADO-RS, STOW-RS).

Two roots: `/dicomweb/` covers every study the caller may see (a clinician's worklists with
"view and search", or a guest session's studies), and `/dicomweb/worklists/{share_code}/`
covers one worklist, for its members. The caller is a signed-in user (a session, or an API
token: `accounts.tokens.BearerTokenMiddleware`) or a guest session; anyone else gets a 401.
What the caller may not see is a 404, the same as what does not exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest

from studies.access import guest_study_ids
from studies.models import Instance, Series, Study, WorklistEntry
from worklists import sharecodes
from worklists.access import worklist_permissions
from worklists.models import Worklist
from worklists.selectors import worklists_for_user


class Unauthenticated(Exception):
    """No user and no guest session: a 401 asking for a Bearer token."""


@dataclass
class Scope:
    request: HttpRequest
    worklist: Worklist | None  # None: the whole /dicomweb/ root
    base: str  # the root's path, for RetrieveURL values
    # Whether a study lookup was refused (the audit trail's "denied", dicomweb.auditing): what
    # the caller may not see answers as what does not exist, but is recorded as refused.
    denied: bool = False

    def studies(self) -> QuerySet[Study]:
        user = self.request.user
        if self.worklist is not None:
            return Study.objects.filter(
                pk__in=WorklistEntry.objects.filter(worklist=self.worklist).values("study_id")
            )
        visible = Q(pk__in=[])
        if getattr(user, "is_authenticated", False):
            entries = WorklistEntry.objects.filter(
                worklist__in=worklists_for_user(user, "view_studies")
            )
            visible |= Q(pk__in=entries.values("study_id"))
        guest_ids = guest_study_ids(self.request)
        if guest_ids:
            visible |= Q(pk__in=guest_ids)
        return Study.objects.filter(visible)

    def study(self, study_uid: str) -> Study:
        study = self.studies().filter(study_instance_uid=study_uid).first()
        if study is None:
            self.denied = True
            raise Http404("No such study.")
        return study

    def series(self, study_uid: str, series_uid: str) -> Series:
        series = (
            Series.objects.filter(
                study=self.study(study_uid), series_instance_uid=series_uid
            ).select_related("study")
        ).first()
        if series is None:
            raise Http404("No such series.")
        return series

    def instance(self, study_uid: str, series_uid: str, sop_uid: str) -> Instance:
        instance = (
            Instance.objects.filter(
                series=self.series(study_uid, series_uid), sop_instance_uid=sop_uid
            ).select_related("series__study")
        ).first()
        if instance is None:
            raise Http404("No such instance.")
        return instance

    def url(self, *parts: str) -> str:
        return self.request.build_absolute_uri(self.base + "/".join(parts))


def scope_for(request: HttpRequest, share_code: str | None, need: str = "view_studies") -> Scope:
    """The caller's scope; a worklist root needs `need` on it (404 without any role there)."""
    user: Any = request.user
    signed_in = bool(getattr(user, "is_authenticated", False))
    if not signed_in and not guest_study_ids(request):
        raise Unauthenticated
    if share_code is None:
        return Scope(request=request, worklist=None, base="/dicomweb/")
    code = sharecodes.normalise(share_code)
    worklist = Worklist.objects.filter(share_code=code).first() if signed_in else None
    permissions = worklist_permissions(user, worklist) if worklist is not None else set()
    if not permissions:
        raise Http404("No such worklist.")
    if need not in permissions:
        raise PermissionDenied("Your role on this worklist does not allow that.")
    return Scope(request=request, worklist=worklist, base=f"/dicomweb/worklists/{code}/")
