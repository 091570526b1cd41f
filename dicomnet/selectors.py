"""Read paths for DICOM networking: who is calling, and where their studies go."""

from __future__ import annotations

import datetime
import ipaddress
import socket
import uuid
from typing import Any

from django.core.exceptions import ValidationError
from django.http import Http404
from django.urls import reverse

from studies.models import Study, WorklistEntry
from worklists.access import worklist_permissions
from worklists.models import Worklist

from .models import DicomSend, RemoteNode
from .services import MAX_SEND_STUDIES


def _addresses(host: str) -> set[str]:
    """The IP addresses `host` stands for (itself when it is one), normalised."""
    try:
        return {str(ipaddress.ip_address(host))}
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return set()
    return {str(ipaddress.ip_address(str(info[4][0]).split("%")[0])) for info in infos}


def _normalised(address: str) -> str:
    try:
        ip = ipaddress.ip_address(address.split("%")[0])
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)


def remote_node_for_peer(ae_title: str, address: str) -> RemoteNode | None:
    """The registered node that calls itself `ae_title` from `address`, of an active
    organisation; None for anyone else."""
    peer = _normalised(address)
    nodes = RemoteNode.objects.filter(
        ae_title=ae_title.strip(), organisation__is_active=True
    ).select_related("organisation")
    for node in nodes:
        if peer in _addresses(node.host):
            return node
    return None


def worklist_for_called_ae(node: RemoteNode, called_ae_title: str) -> Worklist | None:
    """The worklist `node` may store into under `called_ae_title`: one of its own
    organisation's; None otherwise (unknown, or another organisation's: the same answer)."""
    return (
        Worklist.objects.filter(
            ae_title=called_ae_title.strip(), organisation_id=node.organisation_id
        )
        .select_related("organisation")
        .first()
    )


def remote_nodes_for_organisation(organisation_id: int | None) -> list[RemoteNode]:
    if organisation_id is None:
        return []
    return list(RemoteNode.objects.filter(organisation_id=organisation_id))


def _uuids(values: list[str], what: str) -> set[uuid.UUID]:
    """The distinct ids chosen, counted before any is parsed or looked up: a ValidationError
    beyond MAX_SEND_STUDIES, a 404 for a value that is not an id at all."""
    if len(set(values)) > MAX_SEND_STUDIES:
        raise ValidationError(
            f"One send takes at most {MAX_SEND_STUDIES} studies; {len(set(values))} were "
            "selected. Send them in smaller groups."
        )
    try:
        return {uuid.UUID(str(value)) for value in values}
    except ValueError:
        raise Http404(f"No such {what}.") from None


def send_studies(*, worklist: Worklist, study_ids: list[str]) -> list[Study]:
    """The studies chosen on `worklist`'s page (whose access the caller checked), the newest
    first: 404 when one of them is not in this worklist; none chosen is an empty list."""
    wanted = _uuids(study_ids, "study")
    entries = WorklistEntry.objects.filter(worklist=worklist, study__public_id__in=wanted)
    studies = [entry.study for entry in entries.select_related("study")]
    if len(studies) != len(wanted):
        raise Http404("No such study in this worklist.")
    return sorted(studies, key=lambda s: s.study_date or datetime.date.min, reverse=True)


def worklist_sends(*, worklist: Worklist, send_ids: list[str]) -> list[DicomSend]:
    """The sends from `worklist` named by `send_ids` (others are not shown, whoever's they
    are), or with none named its latest MAX_SEND_STUDIES: one query."""
    sends = DicomSend.objects.filter(worklist=worklist).select_related("node", "study")
    if send_ids:
        sends = sends.filter(public_id__in=_uuids(send_ids, "send"))
    return list(sends[:MAX_SEND_STUDIES])


def send_panel(*, user: Any, study: Any, worklist: Worklist, **_: Any) -> dict[str, Any] | None:
    """The study page's "Send to PACS" panel, for those who may send from this worklist."""
    if "send_to_dicom_node" not in worklist_permissions(user, worklist):
        return None
    sends = list(
        DicomSend.objects.filter(study=study, worklist=worklist).select_related("node")[:5]
    )
    query = f"?worklist={worklist.public_id}"
    return {
        "worklist": worklist,
        "nodes": remote_nodes_for_organisation(worklist.organisation_id),
        "sends": sends,
        "active": any(send.is_active for send in sends),
        "send_url": reverse("dicomnet:study_send", args=[study.public_id]),
        "poll_url": reverse("dicomnet:send_panel", args=[study.public_id]) + query,
    }
