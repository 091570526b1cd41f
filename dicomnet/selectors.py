"""Read paths for DICOM networking: who is calling, and where their studies go."""

from __future__ import annotations

import ipaddress
import socket

from worklists.models import Worklist

from .models import RemoteNode


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
