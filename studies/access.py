"""Who may see a study: a clinician through a worklist, or a guest through a guest session."""

from typing import Any

from django.db.models import QuerySet
from django.http import Http404, HttpRequest

from worklists.models import Worklist
from worklists.selectors import worklists_for_user

from .models import Study


def guest_study_ids(request: HttpRequest) -> set[int]:
    """Study ids the request's guest session may see (filled in by the guest-links app)."""
    from guestlinks import access

    return access.guest_study_ids(request)


def worklists_showing_study(user: Any, study: Study) -> QuerySet[Worklist]:
    return worklists_for_user(user, "view_studies").filter(entries__study=study)


def get_study_for_request(request: HttpRequest, study_instance_uid: str) -> Study:
    """The study, if this clinician or guest may see it; otherwise 404 (as if it did not exist)."""
    study = Study.objects.filter(study_instance_uid=study_instance_uid).first()
    if study is None:
        raise Http404("No such study.")
    user = request.user
    if getattr(user, "is_authenticated", False) and worklists_showing_study(user, study).exists():
        return study
    if study.pk in guest_study_ids(request):
        return study
    raise Http404("No such study.")
