"""Read paths for upload links: a worklist's links with uploads so far and the last upload."""

from django.db.models import Count, Max, Q, QuerySet

from worklists.models import Worklist

from .models import Upload, UploadLink


def worklist_upload_links(*, worklist: Worklist) -> QuerySet[UploadLink]:
    """The worklist's upload links, newest first, each with its completed uploads and when the
    last one completed: one query whatever the number of links."""
    completed = Q(uploads__status=Upload.Status.COMPLETED)
    return (
        UploadLink.objects.filter(worklist=worklist)
        .select_related("created_by", "worklist")
        .annotate(
            uploads_completed=Count("uploads", filter=completed),
            last_upload_at=Max("uploads__completed_at", filter=completed),
        )
        .order_by("-created_at", "-id")
    )
