"""Sending a study by C-STORE to a remote node (the "send to PACS" task's network half).

Each stored file is sent as it is stored (its own transfer syntax; nothing is transcoded),
read from disk in chunks by pynetdicom, so a large study never sits in memory.
"""

from __future__ import annotations

import os
import shutil
import ssl
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


class _RecordingSocket(ssl.SSLSocket):
    """pynetdicom only logs why a connection failed; this keeps the error on the context, so a
    TLS send can say why (a certificate not trusted, a handshake that timed out)."""

    def connect(self, address: object) -> None:  # type: ignore[override]
        try:
            super().connect(address)  # type: ignore[arg-type]
        except OSError as error:
            context = self.context
            if isinstance(context, _Context):
                context.failure = error
            raise


class _Context(ssl.SSLContext):
    failure: OSError | None = None
    sslsocket_class = _RecordingSocket


def tls_context() -> _Context:
    """The client TLS context for nodes marked TLS: the node's certificate must chain to
    DICOM_SEND_TLS_CA (else the system's CAs) and name its host; our own certificate is
    presented when DICOM_SEND_TLS_CERTIFICATE is set."""
    context = _Context(ssl.PROTOCOL_TLS_CLIENT)  # verifies the peer and its host name
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        if settings.DICOM_SEND_TLS_CA:
            context.load_verify_locations(cafile=settings.DICOM_SEND_TLS_CA)
        else:
            context.load_default_certs(ssl.Purpose.SERVER_AUTH)
        if settings.DICOM_SEND_TLS_CERTIFICATE:
            context.load_cert_chain(
                settings.DICOM_SEND_TLS_CERTIFICATE, settings.DICOM_SEND_TLS_KEY or None
            )
    except (OSError, ValueError) as error:  # ssl.SSLError is an OSError
        # Not the node's fault, and the same on every retry: said plainly, without file paths.
        raise SendFailed(
            "This server's TLS settings for sending (DICOM_SEND_TLS_*) could not be loaded "
            f"({type(error).__name__})."
        ) from None
    return context


def _tls_reason(node: RemoteNode, error: OSError) -> str:
    if isinstance(error, ssl.SSLCertVerificationError):
        detail = error.verify_message or error.reason or "not trusted"
        return (
            f"The secure (TLS) connection to {node.name} failed: its certificate was not "
            f"accepted ({detail})."
        )
    if isinstance(error, ssl.SSLError):
        return f"The secure (TLS) connection to {node.name} failed ({error.reason or error})."
    if isinstance(error, TimeoutError):
        return (
            f"{node.name} did not answer at {node.host}:{node.port} within "
            f"{settings.DICOM_SEND_CONNECT_TIMEOUT} s."
        )
    detail = error.strerror or str(error)
    return f"{node.name} could not be reached at {node.host}:{node.port} ({detail})."


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
    if any(not sop_class or not syntax for sop_class, syntax in pairs):
        # pynetdicom would abort the association over it: say what is wrong, not "unreachable".
        raise SendFailed("Some images of the study have no SOP class or transfer syntax recorded.")
    if len(pairs) > MAX_CONTEXTS:
        raise SendFailed(
            f"The study needs {len(pairs)} kinds of image; one association carries {MAX_CONTEXTS}."
        )
    context = tls_context() if node.tls else None
    ae = AE(ae_title=settings.DICOM_AE_TITLE)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = settings.DICOM_SEND_TIMEOUT
    # Bounds the TCP connect and, for TLS, the handshake (pynetdicom wraps the socket first).
    ae.connection_timeout = settings.DICOM_SEND_CONNECT_TIMEOUT
    for sop_class, syntax in pairs:
        ae.add_requested_context(sop_class, [syntax])
    assoc = ae.associate(
        node.host,
        node.port,
        ae_title=node.ae_title,
        tls_args=(context, node.host) if context is not None else None,
    )
    if assoc.is_rejected:
        raise SendFailed(
            f"{node.name} refused the association (is {settings.DICOM_AE_TITLE} registered there?)."
        )
    if not assoc.is_established:
        if context is not None and context.failure is not None:
            raise SendFailed(_tls_reason(node, context.failure))
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
