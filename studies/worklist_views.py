"""The worklist pages: the studies a worklist holds (they live with the studies they list)."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET

from worklists.access import get_worklist_for_user, worklist_permissions, worklists_for_user

from .registry import worklist_actions
from .selectors import bounded_count, entry_page, worklist_entries, worklist_study_counts
from .worklist_forms import StudySearchForm


def _visible_worklists(request: HttpRequest):  # type: ignore[no-untyped-def]
    worklists = list(
        worklists_for_user(request.user, "view_studies")
        .select_related("organisation")
        .order_by("kind", "name")
    )
    counts = worklist_study_counts(worklists)  # cached: no count over every entry per view
    for worklist in worklists:
        worklist.study_count = counts[worklist.pk]  # type: ignore[attr-defined]
    return worklists


@require_GET
@login_required
def home(request: HttpRequest) -> HttpResponse:
    worklists = _visible_worklists(request)
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
    sort = filters.get("sort") or "date"
    entries = worklist_entries(
        worklist=worklist,
        query=filters.get("q") or "",
        modality=filters.get("modality") or "",
        date_from=filters.get("date_from"),
        date_to=filters.get("date_to"),
        sort=sort,
    )
    worklists = _visible_worklists(request)
    counts_by_id = {item.pk: item.study_count for item in worklists}
    filtered = any(filters.get(name) for name in ("q", "modality", "date_from", "date_to"))
    count = bounded_count(entries) if filtered else counts_by_id[worklist.pk]
    page = entry_page(
        entries,
        sort=sort,
        after=request.GET.get("after", ""),
        before=request.GET.get("before", ""),
        count=count,
    )
    query_without_page = request.GET.copy()
    for name in ("after", "before", "page"):
        query_without_page.pop(name, None)
    perms_here = worklist_permissions(request.user, worklist)
    # The study-link icon opens a study's guest-link panel, which these permissions show.
    may_see_guest_links = bool({"view_guest_links", "create_guest_links"} & perms_here)
    # The selection bar's buttons, each sending the checked studies to its app's view.
    selection_actions = [
        {
            "label": action.label,
            "name": action.name,
            "url": reverse(action.url_name, kwargs={"worklist_id": worklist.public_id}),
        }
        for action in worklist_actions(user=request.user, worklist=worklist)
    ]
    may_select = "share_study" in perms_here or bool(selection_actions)
    return render(
        request,
        "worklists/worklist.html",
        {
            "worklist": worklist,
            "worklists": worklists,
            "form": form,
            "page": page,
            "query_string": query_without_page.urlencode(),
            "perms_here": perms_here,
            "may_see_guest_links": may_see_guest_links,
            "may_manage_upload_links": "manage_upload_links" in perms_here,
            "selection_actions": selection_actions,
            "may_select": may_select,
            "table_columns": 9 + may_select + may_see_guest_links,
            "active_filters": form.active_filters() if form.is_bound else 0,
        },
    )
