"""Write paths for DICOM networking."""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import F
from django.http import Http404, HttpRequest
from django.utils import timezone

from accounts.models import Organisation
from audit.models import AuditEvent
from audit.services import record_event
from studies.models import Instance, Study, WorklistEntry
from worklists.access import worklist_permissions
from worklists.models import Worklist

from .models import DicomSend, RemoteNode
from .scu import SendFailed, SendResult, send_instances

logger = logging.getLogger(__name__)


@transaction.atomic(durable=True)
def remote_node_create(
    *,
    organisation: Organisation,
    name: str,
    ae_title: str,
    host: str,
    port: int,
    tls: bool = False,
) -> RemoteNode:
    """Register a remote DICOM node of `organisation` (an administrator's act, as in admin)."""
    node = RemoteNode(
        organisation=organisation, name=name, ae_title=ae_title, host=host, port=port, tls=tls
    )
    node.full_clean()
    node.save()
    return node


MAX_SEND_STUDIES = 25  # studies one "Send to PACS…" from the worklist may queue


def study_in_worklist(study: Study, worklist: Worklist) -> bool:
    return WorklistEntry.objects.filter(worklist=worklist, study=study).exists()


def _may_send(actor: Any, studies: list[Study], worklist: Worklist, node: RemoteNode) -> None:
    """404 for a study the actor may not see in `worklist`, 403 without the permission to send
    from it or for a node of another organisation: the same answers as the study page's."""
    permissions = worklist_permissions(actor, worklist)
    if "view_studies" not in permissions:
        raise Http404("No such study.")
    wanted = {study.pk for study in studies}
    present = set(
        WorklistEntry.objects.filter(worklist=worklist, study_id__in=wanted).values_list(
            "study_id", flat=True
        )
    )
    if present != wanted:
        raise Http404("No such study.")
    if "send_to_dicom_node" not in permissions:
        raise PermissionDenied("Your role on this worklist does not allow sending studies.")
    if worklist.organisation_id is None or node.organisation_id != worklist.organisation_id:
        raise PermissionDenied("That DICOM node is not one of this worklist's organisation's.")


def _queue(
    *, actor: Any, study: Study, worklist: Worklist, node: RemoteNode, request: HttpRequest | None
) -> DicomSend:
    """One send row and its audit event; its task is queued when the transaction commits."""
    send = DicomSend.objects.create(
        study=study,
        worklist=worklist,
        node=node,
        requested_by=actor,
        total=Instance.objects.filter(series__study=study).count(),
    )
    record_event(
        action=AuditEvent.Action.STUDY_SENT,
        actor=actor,
        request=request,
        study_instance_uid=study.study_instance_uid,
        details={
            "worklist": str(worklist.public_id),
            "node": str(node.public_id),
            "send": str(send.public_id),
        },
    )
    transaction.on_commit(partial(_enqueue, send.pk))
    return send


@transaction.atomic(durable=True)
def study_send(
    *,
    actor: Any,
    study: Study,
    worklist: Worklist,
    node: RemoteNode,
    request: HttpRequest | None = None,
) -> DicomSend:
    """Queue sending `study` (seen in `worklist`) by C-STORE to `node`, one of the worklist's
    organisation's nodes; a Celery task sends it after commit (`study_send_run`)."""
    _may_send(actor, [study], worklist, node)
    return _queue(actor=actor, study=study, worklist=worklist, node=node, request=request)


@transaction.atomic(durable=True)
def studies_send(
    *,
    actor: Any,
    worklist: Worklist,
    studies: list[Study],
    node: RemoteNode,
    request: HttpRequest | None = None,
) -> list[DicomSend]:
    """Queue sending each of `studies` (selected on `worklist`) to `node`: all of them or, when
    one may not be sent, none. One send, task and audit event per study, as from its page."""
    unique = list({study.pk: study for study in studies}.values())
    if not unique:
        raise ValidationError("Select at least one study to send.")
    if len(unique) > MAX_SEND_STUDIES:
        raise ValidationError(
            f"One send takes at most {MAX_SEND_STUDIES} studies; "
            f"{len(unique)} were selected. Send them in smaller groups."
        )
    _may_send(actor, unique, worklist, node)
    return [
        _queue(actor=actor, study=study, worklist=worklist, node=node, request=request)
        for study in unique
    ]


def _enqueue(send_id: int, countdown: int = 0) -> None:
    from .tasks import send_study

    send_study.apply_async((send_id,), countdown=countdown)


def study_send_run(*, send_id: int) -> None:
    """Send (the task's body): claim the send, C-STORE every instance with progress, record
    the result; a node that cannot be reached is retried after DICOM_SEND_RETRY_DELAYS."""
    claimed = DicomSend.objects.filter(
        pk=send_id, status__in=[DicomSend.Status.QUEUED, DicomSend.Status.RETRYING]
    ).update(status=DicomSend.Status.SENDING, attempts=F("attempts") + 1, sent=0, failed=0)
    if not claimed:
        return  # sent, failed, or being sent by another worker
    send = DicomSend.objects.select_related("node", "study").get(pk=send_id)
    instances = list(
        Instance.objects.filter(series__study=send.study).order_by(
            "series__series_number", "series_id", "instance_number", "id"
        )
    )

    def progress(result: SendResult) -> None:
        DicomSend.objects.filter(pk=send_id).update(sent=result.sent, failed=result.failed)

    try:
        result = send_instances(send.node, instances, progress)
    except SendFailed as failure:
        delays = settings.DICOM_SEND_RETRY_DELAYS
        retry = send.attempts <= len(delays)
        DicomSend.objects.filter(pk=send_id).update(
            status=DicomSend.Status.RETRYING if retry else DicomSend.Status.FAILED,
            reason=failure.reason[:300],
            finished_at=None if retry else timezone.now(),
        )
        logger.warning(
            "Send %s to node %s failed: %s", send.public_id, send.node.public_id, failure.reason
        )
        if retry:
            _enqueue(send_id, countdown=delays[send.attempts - 1])
        return
    except Exception:
        logger.exception("Send %s failed", send.public_id)
        DicomSend.objects.filter(pk=send_id).update(
            status=DicomSend.Status.FAILED,
            reason="The send stopped because of a server error.",
            finished_at=timezone.now(),
        )
        return
    if result.failed:
        status = DicomSend.Status.FAILED
        reason = (
            f"{send.node.name} refused {result.failed} of {len(instances)} images "
            f"({result.first_refusal})."
        )
    else:
        status, reason = DicomSend.Status.SENT, ""
    DicomSend.objects.filter(pk=send_id).update(
        status=status,
        sent=result.sent,
        failed=result.failed,
        total=len(instances),
        reason=reason[:300],
        finished_at=timezone.now(),
    )
