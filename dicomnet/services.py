"""Write paths for DICOM networking."""

from __future__ import annotations

from django.db import transaction

from accounts.models import Organisation

from .models import RemoteNode


@transaction.atomic(durable=True)
def remote_node_create(
    *, organisation: Organisation, name: str, ae_title: str, host: str, port: int
) -> RemoteNode:
    """Register a remote DICOM node of `organisation` (an administrator's act, as in admin)."""
    node = RemoteNode(organisation=organisation, name=name, ae_title=ae_title, host=host, port=port)
    node.full_clean()
    node.save()
    return node
