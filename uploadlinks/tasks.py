from celery import shared_task

from . import services


@shared_task(ignore_result=True)
def prune_staging() -> int:
    """Abandon uploads never completed and delete their staged chunks."""
    return services.upload_prune_staging()
