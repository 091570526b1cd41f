"""Background work for DICOM networking: "send to PACS"."""

from celery import shared_task

from . import services


@shared_task(soft_time_limit=3600, time_limit=3700, acks_late=False)
def send_study(send_id: int) -> None:
    """Send one queued study (a DicomSend) to its node; the service claims it first, so a
    redelivered message never sends twice at once."""
    services.study_send_run(send_id=send_id)
