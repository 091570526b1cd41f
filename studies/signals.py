"""Keep the cached studies-per-worklist counts (studies.selectors) honest."""

from typing import Any

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from .models import WorklistEntry
from .selectors import forget_worklist_counts


@receiver(post_save, sender=WorklistEntry, dispatch_uid="worklist_count_on_save")
def _entry_saved(sender: Any, instance: WorklistEntry, created: bool, **kwargs: Any) -> None:
    if created:
        _forget(instance.worklist_id)


@receiver(post_delete, sender=WorklistEntry, dispatch_uid="worklist_count_on_delete")
def _entry_deleted(sender: Any, instance: WorklistEntry, **kwargs: Any) -> None:
    _forget(instance.worklist_id)


def _forget(worklist_id: int) -> None:
    # Now, and again after the commit: a page counting in between would cache the old figure.
    forget_worklist_counts([worklist_id])
    transaction.on_commit(lambda: forget_worklist_counts([worklist_id]))
