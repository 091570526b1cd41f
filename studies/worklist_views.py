"""The worklist pages: the studies a worklist holds (they live with the studies they list)."""

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from worklists.access import get_worklist_for_user, worklist_permissions, worklists_for_user

from .selectors import worklist_entries
from .worklist_forms import StudySearchForm

PAGE_SIZE = 25


def _visible_worklists(request: HttpRequest):  # type: ignore[no-untyped-def]
    return (
        worklists_for_user(request.user, "view_studies")
        .select_related("organisation")
        .annotate(study_count=Count("entries"))
        .order_by("kind", "name")
    )


@require_GET
@login_required
def home(request: HttpRequest) -> HttpResponse:
    worklists = list(_visible_worklists(request))
    if worklists:
        # Open the first worklist that has studies in it; an empty one only when all are empty.
        with_studies = [worklist for worklist in worklists if worklist.study_count]
        return redirect("worklists:detail", public_id=(with_studies or worklists)[0].public_id)
    return render(request, "worklists/empty.html", {"worklists": worklists})


@require_GET
@login_required
def worklist_detail(request: HttpRequest, public_id: str) -> HttpResponse:
    worklist = get_worklist_for_user(request.user, public_id, need="view_studies")
    form = StudySearchForm(request.GET or None)
    filters: dict = {}
    if form.is_bound:
        # A field with an error is shown with its message and left out; the valid ones apply.
        form.is_valid()
        filters = form.cleaned_data
    entries = worklist_entries(
        worklist=worklist,
        query=filters.get("q") or "",
        modality=filters.get("modality") or "",
        date_from=filters.get("date_from"),
        date_to=filters.get("date_to"),
        sort=filters.get("sort") or "date",
    )
    page = Paginator(entries, PAGE_SIZE).get_page(request.GET.get("page"))
    query_without_page = request.GET.copy()
    query_without_page.pop("page", None)
    perms_here = worklist_permissions(request.user, worklist)
    # The study-link icon opens a study's guest-link panel, which these permissions show.
    may_see_guest_links = bool({"view_guest_links", "create_guest_links"} & perms_here)
    return render(
        request,
        "worklists/worklist.html",
        {
            "worklist": worklist,
            "worklists": _visible_worklists(request),
            "form": form,
            "page": page,
            "query_string": query_without_page.urlencode(),
            "perms_here": perms_here,
            "may_see_guest_links": may_see_guest_links,
            "may_manage_upload_links": "manage_upload_links" in perms_here,
            "table_columns": 9 + ("share_study" in perms_here) + may_see_guest_links,
            "active_filters": form.active_filters() if form.is_bound else 0,
        },
    )
