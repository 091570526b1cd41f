"""The DICOM Storage SCP (`manage.py dicom_scp`): C-ECHO and C-STORE into worklists.

Routing and trust are decided at association, before any data flows: the calling AE title and
the peer's address must be a registered `RemoteNode`, and the called AE title must be a
worklist of that node's organisation; anything else is rejected (calling or called AE title
not recognised; another organisation's worklist looks exactly like an unknown one).

Every PDU is bounded before pynetdicom reads it (its length, a data set's and a command set's
size; `transport.py`), and TLS handshakes happen in each connection's own thread. Each received
instance is streamed by pynetdicom to a temporary file (never held whole in memory) and handed
to the same ingest as every other path (`studies.services.IngestSession`: limits, isolation,
idempotency, audit, pre-rendering), as the system with the worklist as target. One association
is one ingest: its audit events and pre-rendering are written when it ends; every instance is
committed, and so visible in the worklist, as soon as it is stored. A study sent over several
associations is one study (its Study Instance UID finds it in the worklist, which the system may
add to).
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import close_old_connections, connections
from pydicom.dataset import Dataset
from pydicom.uid import (
    JPEG2000,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLossless,
    JPEGLosslessSV1,
    JPEGLSLossless,
    JPEGLSNearLossless,
    RLELossless,
)
from pynetdicom import AE, AllStoragePresentationContexts, _config, evt
from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]

from studies.models import WorklistEntry
from studies.services import IngestSession

from .selectors import remote_node_for_peer, worklist_for_called_ae
from .transport import AssociationServer

logger = logging.getLogger(__name__)

TRANSFER_SYNTAXES = [
    ImplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLossless,
    JPEGLosslessSV1,
    JPEGLSLossless,
    JPEGLSNearLossless,
    JPEG2000Lossless,
    JPEG2000,
    RLELossless,
]

# A-ASSOCIATE-RJ: rejected-permanent, by the service user, with PS3.8 9.3.4's reasons.
_REJECTED_PERMANENT, _REJECTED_TRANSIENT, _SERVICE_USER = 0x01, 0x02, 0x01
_CALLING_AE_NOT_RECOGNISED, _CALLED_AE_NOT_RECOGNISED = 0x03, 0x07

# C-STORE statuses (PS3.4 B.2.3): refused for what the file is, or for our failure to store it.
SUCCESS = 0x0000
CANNOT_UNDERSTAND = 0xC000
OUT_OF_RESOURCES = 0xA700
_SERVER_ERROR = "because of a server error"
# The smallest DICOM_SCP_MAX_PDU: it bounds the A-ASSOCIATE-RQ too, which for a sender proposing
# a hundred presentation contexts with several transfer syntaxes each runs to tens of KiB.
MIN_PDU = 64 * 1024


def tls_context() -> ssl.SSLContext | None:
    """A server TLS context from DICOM_SCP_TLS_CERTIFICATE and _KEY (and, to require client
    certificates, DICOM_SCP_TLS_CA); None when no certificate is configured.

    Made bare rather than with `ssl.create_default_context`, which would also trust the
    system's certificate authorities for client certificates: a sender must hold a certificate
    of DICOM_SCP_TLS_CA, and of no other authority."""
    certificate = settings.DICOM_SCP_TLS_CERTIFICATE
    if not certificate:
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(certificate, settings.DICOM_SCP_TLS_KEY or None)
    if settings.DICOM_SCP_TLS_CA:
        context.load_verify_locations(settings.DICOM_SCP_TLS_CA)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def _reject(assoc: Any, reason: int, *, transient: bool = False) -> None:
    """Send A-ASSOCIATE-RJ and wait until it is out, as pynetdicom's own rejections do (the
    server closes the socket as soon as this handler returns)."""
    result = _REJECTED_TRANSIENT if transient else _REJECTED_PERMANENT
    assoc.acse.send_reject(result, _SERVICE_USER, reason)
    assoc.kill()
    connections.close_all()  # this association's thread is done with the database


class StorageSCP:
    """One listening Storage SCP; `start` serves in background threads."""

    def __init__(self) -> None:
        self._sessions: dict[int, tuple[Any, IngestSession | None, int]] = {}
        self._lock = threading.Lock()

    def application_entity(self) -> AE:
        ae = AE(ae_title=settings.DICOM_AE_TITLE)
        ae.maximum_associations = settings.DICOM_SCP_MAX_ASSOCIATIONS
        # Idle between messages: pynetdicom aborts; stalled within a PDU: transport.py does.
        ae.network_timeout = settings.DICOM_SCP_NETWORK_TIMEOUT
        # Advertised as our Maximum Length Received, and enforced on every PDU (transport.py).
        if settings.DICOM_SCP_MAX_PDU < MIN_PDU:
            raise ImproperlyConfigured(
                f"DICOM_SCP_MAX_PDU must be at least {MIN_PDU} bytes: every PDU a sender "
                "sends is refused above it, its association request included."
            )
        ae.maximum_pdu_size = settings.DICOM_SCP_MAX_PDU
        ae.add_supported_context(Verification)
        for context in AllStoragePresentationContexts:
            ae.add_supported_context(str(context.abstract_syntax), TRANSFER_SYNTAXES)
        return ae

    def start(self, address: tuple[str, int]) -> AssociationServer:
        """Listen on `address` and serve in a background thread; the server's `shutdown`
        stops it."""
        # Received data sets go to a temporary file in chunks, never whole in memory.
        _config.STORE_RECV_CHUNKED_DATASET = True
        handlers: list[Any] = [
            (evt.EVT_REQUESTED, self._on_requested),
            (evt.EVT_C_ECHO, self._on_echo),
            (evt.EVT_C_STORE, self._on_store),
            (evt.EVT_RELEASED, self._on_end),
            (evt.EVT_ABORTED, self._on_end),
            (evt.EVT_CONN_CLOSE, self._on_end),
        ]
        # pynetdicom's `start_server` takes no server class, and its blocking server handles
        # each connection on the accept thread: ours always gives a connection its own thread.
        server = self.application_entity().make_server(
            address,
            evt_handlers=handlers,
            ssl_context=tls_context(),
            server_class=AssociationServer,
        )
        assert isinstance(server, AssociationServer)
        threading.Thread(target=server.serve_forever, name="dicom-scp-accept", daemon=True).start()
        return server

    def drain(self, server: AssociationServer, *, grace: float) -> int:
        """After `server.shutdown()`: wait up to `grace` seconds for the associations in
        progress to end, then abort the others; how many were aborted."""
        deadline = time.monotonic() + grace
        while server.active_associations and time.monotonic() < deadline:
            time.sleep(0.1)
        remaining = server.active_associations
        for assoc in remaining:
            assoc.abort()
        return len(remaining)

    # --- association --------------------------------------------------------------------

    def _on_requested(self, event: Any) -> None:
        assoc = event.assoc
        request = assoc.requestor.primitive
        calling = str(request.calling_ae_title).strip()
        called = str(request.called_ae_title).strip()
        address = str(assoc.requestor.address)
        close_old_connections()
        try:
            node = remote_node_for_peer(calling, address)
            worklist = worklist_for_called_ae(node, called) if node is not None else None
        except Exception:
            logger.exception("DICOM association refused: the routing could not be checked")
            _reject(assoc, _CALLING_AE_NOT_RECOGNISED, transient=True)
            return
        if node is None:
            logger.warning("DICOM association refused: calling AE title or address not registered")
            _reject(assoc, _CALLING_AE_NOT_RECOGNISED)
            return
        if worklist is None:
            logger.warning(
                "DICOM association from node %s refused: no worklist of its organisation has "
                "the called AE title",
                node.public_id,
            )
            _reject(assoc, _CALLED_AE_NOT_RECOGNISED)
            return
        with self._lock:
            self._sessions[id(assoc)] = (worklist, None, 0)
        logger.info(
            "DICOM association from node %s to worklist %s", node.public_id, worklist.public_id
        )

    def _on_echo(self, event: Any) -> int:
        return SUCCESS

    def _on_store(self, event: Any) -> Dataset:
        key = id(event.assoc)
        with self._lock:
            worklist, session, count = self._sessions[key]
        if session is None:
            session = IngestSession(
                actor=None, worklist=worklist, source=WorklistEntry.Source.DICOM
            )
        count += 1
        with self._lock:
            self._sessions[key] = (worklist, session, count)
        reason = session.add(f"C-STORE #{count}", event.dataset_path)
        status = Dataset()
        if reason is None:
            status.Status = SUCCESS
        else:
            status.Status = OUT_OF_RESOURCES if _SERVER_ERROR in reason else CANNOT_UNDERSTAND
            status.ErrorComment = reason[:64]
        return status

    def _on_end(self, event: Any) -> None:
        with self._lock:
            entry = self._sessions.pop(id(event.assoc), None)
        try:
            if entry is not None and entry[1] is not None:
                entry[1].finish()
        finally:
            connections.close_all()  # this association's thread is done with the database
