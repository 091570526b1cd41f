"""Thin tasks: take an id, call a service. Delivery state lives in the row, not in Celery."""

from celery import shared_task

from . import services


@shared_task(bind=True, max_retries=None, acks_late=True)
def deliver_message(self, message_id: int) -> str:  # type: ignore[no-untyped-def]
    delivery = services.message_deliver(message_id=message_id)
    if delivery.retry_in is not None and not self.request.is_eager:
        # The row is already back to pending with its next attempt time; if this retry cannot
        # be queued (broker down), the sweep finds the row when that time comes. Eager (no
        # broker), Celery would retry at once and ignore the countdown: the sweep does it.
        raise self.retry(countdown=delivery.retry_in)
    return delivery.status


@shared_task
def sweep_pending() -> int:
    return services.messages_sweep()
