from celery import shared_task

from . import services


@shared_task
def deliver_message(message_id: int) -> None:
    message = services.message_claim(message_id=message_id)
    if message is not None:
        services.message_send(message=message)


@shared_task
def sweep_pending() -> None:
    from .models import OutboundMessage

    for message_id in OutboundMessage.objects.filter(
        status=OutboundMessage.Status.PENDING
    ).values_list("pk", flat=True)[:500]:
        deliver_message.delay(message_id)
