"""Read paths for DICOM networking: who is calling, and where their studies go."""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

from django.urls import reverse

from worklists.access import worklist_permissions
from worklists.models import Worklist

from .models import DicomSend, RemoteNode


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
