"""Sending a study by C-STORE to a remote node (the "send to PACS" task's network half).

Each stored file is sent as it is stored (its own transfer syntax; nothing is transcoded),
read from disk in chunks by pynetdicom, so a large study never sits in memory.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.conf import settings
from pynetdicom import AE, _config

from studies.models import Instance

from .models import RemoteNode

MAX_CONTEXTS = 128  # presentation contexts one association may propose (PS3.8)
# Stored (0000), and the warnings that still mean stored (PS3.4 B.2.3).
STORED = {0x0000, 0xB000, 0xB006, 0xB007}


class SendFailed(Exception):
    """The node could not be reached, refused the association, or dropped it: worth a retry."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class SendResult:
    sent: int = 0
    failed: int = 0
    first_refusal: str = ""


@contextmanager
def _local_file(instance: Instance) -> Iterator[str]:
    """A path to the instance's file: its own on local storage, else a temporary copy."""
    try:
        path = instance.file.path
    except NotImplementedError:
        path = ""
    if path and os.path.exists(path):
        yield path
        return
    with tempfile.NamedTemporaryFile(suffix=".dcm") as copy:
        with instance.file.open("rb") as source:
            shutil.copyfileobj(source, copy, 1024 * 1024)
        copy.flush()
        yield copy.name


def send_instances(
    node: RemoteNode, instances: list[Instance], progress: Callable[[SendResult], None]
) -> SendResult:
    _config.STORE_SEND_CHUNKED_DATASET = True  # read each file from disk as it is sent
    pairs = sorted({(i.sop_class_uid, i.transfer_syntax_uid) for i in instances})
    if len(pairs) > MAX_CONTEXTS:
        raise SendFailed(
            f"The study needs {len(pairs)} kinds of image; one association carries {MAX_CONTEXTS}."
        )
    ae = AE(ae_title=settings.DICOM_AE_TITLE)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = settings.DICOM_SEND_TIMEOUT
    for sop_class, syntax in pairs:
        ae.add_requested_context(sop_class, [syntax])
    assoc = ae.associate(node.host, node.port, ae_title=node.ae_title)
    if assoc.is_rejected:
        raise SendFailed(
            f"{node.name} refused the association (is {settings.DICOM_AE_TITLE} registered there?)."
        )
    if not assoc.is_established:
        raise SendFailed(f"{node.name} could not be reached at {node.host}:{node.port}.")
    result = SendResult()
    try:
        for instance in instances:
            with _local_file(instance) as path:
                status = assoc.send_c_store(path)
            if "Status" not in status:
                raise SendFailed(f"{node.name} dropped the association while receiving.")
            if status.Status in STORED:
                result.sent += 1
            else:
                result.failed += 1
                if not result.first_refusal:
                    comment = str(status.get("ErrorComment", "") or "")
                    result.first_refusal = f"status {status.Status:04X}" + (
                        f": {comment}" if comment else ""
                    )
            progress(result)
    finally:
        if assoc.is_established:
            assoc.release()
    return result
