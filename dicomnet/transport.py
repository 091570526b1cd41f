"""The Storage SCP's transport: every PDU is bounded before pynetdicom reads it, and the TLS
handshake happens in the connection's own thread.

pynetdicom's upper layer reads a PDU as `recv(6)` (its type and 32-bit length) then
`recv(length)`, believing the length, and keeps a message's fragments until the last one: a
peer announcing a 4 GiB PDU, or sending data set fragments that never end, would be given the
memory (or the temporary file) it asks for. `BoundedSocket` reads each PDU itself before handing
it on: the length header is checked against our Maximum Length Received (DICOM_SCP_MAX_PDU,
which we also advertise) before the body is read, and the fragments of a P-DATA-TF PDU are
counted against DICOM_MAX_FILE_SIZE (data set) or MAX_COMMAND_SET (command) before pynetdicom
sees them. A peer over a limit gets an A-ABORT and the connection is closed; pynetdicom sees a
closed connection, as if the peer had gone, and ends the association (our EVT_ABORTED handler
finishes its ingest).

pynetdicom's server wraps TLS in `get_request`, on the thread that accepts every connection: a
client that connects and stays silent would stop all others from connecting. Here the accept
thread only accepts; the handshake runs in the connection's thread (`RequestHandler.handle`)
with a timeout.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
import struct
import threading
import time
from typing import Any, cast

from django.conf import settings
from pynetdicom.pdu import A_ABORT_RQ
from pynetdicom.transport import AssociationSocket, ThreadedAssociationServer
from pynetdicom.transport import RequestHandler as PynetdicomRequestHandler

logger = logging.getLogger(__name__)

# A DIMSE command set is a dozen short elements (PS3.7 9.3, 10.3): a few hundred bytes. Ours are
# C-ECHO and C-STORE; 64 KiB leaves room for any peer while keeping a hostile one small.
MAX_COMMAND_SET = 64 * 1024
# Seconds a client has to complete the TLS handshake; the connection's thread waits no longer.
TLS_HANDSHAKE_TIMEOUT = 30.0

_HEADER = struct.Struct(">BBL")  # PDU type, reserved, length (PS3.8 9.3.1)
_PDV = struct.Struct(">LBB")  # PDV item length, presentation context ID, message control header
_P_DATA_TF = 0x04
_READ_SIZE = 64 * 1024
_NO_TIMEOUT = 365 * 24 * 3600.0  # pynetdicom's network_timeout None: no deadline
_KNOWN_PDU_TYPES = range(0x01, 0x08)
# A-ABORT (PS3.8 9.3.8): source 0 = the service user (our policy refused the data), 2 = the
# service provider with reason 6, "invalid PDU parameter value" (the length is out of bounds).
_SERVICE_USER, _SERVICE_PROVIDER, _INVALID_PARAMETER = 0x00, 0x02, 0x06


class BoundedSocket(AssociationSocket):
    """An `AssociationSocket` whose reads return whole PDUs that passed the limits, one ahead."""

    max_pdu: int
    max_data_set: int
    _pending: bytearray
    _refused: bool
    _command_bytes: int
    _data_set_bytes: int
    _deadline: float

    @classmethod
    def adopt(cls, sock: AssociationSocket, *, max_pdu: int, max_data_set: int) -> BoundedSocket:
        """Turn pynetdicom's freshly made socket wrapper into a bounded one. Made in place
        rather than anew: making it announced the connection to the state machine (Evt5), which
        a second wrapper would announce again."""
        sock.__class__ = cls
        bounded = cast(BoundedSocket, sock)
        bounded.max_pdu, bounded.max_data_set = max_pdu, max_data_set
        bounded._pending = bytearray()
        bounded._refused = False
        bounded._command_bytes = bounded._data_set_bytes = 0
        return bounded

    @property
    def ready(self) -> bool:
        return bool(self._pending) or super().ready

    def recv(self, nr_bytes: int) -> bytearray:
        received = bytearray()
        while len(received) < nr_bytes:
            if not self._pending and not self._read_pdu():
                break  # closed or refused: a short read, which pynetdicom takes as closed
            take = min(nr_bytes - len(received), len(self._pending))
            received += self._pending[:take]
            del self._pending[:take]
        return received

    def _read_pdu(self) -> bool:
        """Read the next whole PDU into `_pending`; False when there is none to hand on."""
        if self._refused:
            return False
        # pynetdicom reads only when data is waiting, and ends idle associations itself; once a
        # PDU has begun, the whole of it must arrive within the network timeout. Without this
        # deadline a sender that stalls halfway (or drips a byte at a time) would hold the
        # association's thread, and one of the few association slots, for ever.
        self._deadline = time.monotonic() + (self.assoc.network_timeout or _NO_TIMEOUT)
        try:
            return self._read_bounded_pdu()
        except TimeoutError:
            self._refuse(
                "the sender stalled in the middle of a PDU", source=_SERVICE_USER, reason=0
            )
            return False

    def _recv_in_time(self, nr_bytes: int) -> bytearray:
        """Up to `nr_bytes` (fewer when the peer closes), or TimeoutError at the deadline."""
        raw = self.socket
        received = bytearray()
        if raw is None:
            return received
        try:
            while len(received) < nr_bytes:
                remaining = self._deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError
                raw.settimeout(remaining)
                chunk = raw.recv(min(nr_bytes - len(received), _READ_SIZE))
                if not chunk:
                    break
                received += chunk
        finally:
            with contextlib.suppress(OSError):
                raw.settimeout(None)  # pynetdicom's own sends and reads block, as before
        return received

    def _read_bounded_pdu(self) -> bool:
        header = self._recv_in_time(_HEADER.size)
        if len(header) < _HEADER.size:
            self._pending = header
            return bool(header)
        pdu_type, _, length = _HEADER.unpack(header)
        if pdu_type not in _KNOWN_PDU_TYPES:
            self._pending = header  # pynetdicom refuses it by its type, without reading on
            return True
        if length > self.max_pdu:
            self._refuse(
                f"a PDU announced {length} bytes, more than DICOM_SCP_MAX_PDU ({self.max_pdu})",
                source=_SERVICE_PROVIDER,
                reason=_INVALID_PARAMETER,
            )
            return False
        body = self._recv_in_time(length)
        if pdu_type == _P_DATA_TF and len(body) == length:
            problem = self._count_fragments(body)
            if problem:
                self._refuse(problem, source=_SERVICE_USER, reason=0)
                return False
        self._pending = header + body
        return True

    def _count_fragments(self, body: bytearray) -> str | None:
        """Add the P-DATA-TF's fragments to the message in progress; what is over, or None.
        A malformed item stops the count: pynetdicom refuses the PDU when it decodes it."""
        offset = 0
        while offset + _PDV.size <= len(body):
            item_length, _, control = _PDV.unpack_from(body, offset)
            if item_length < 2:
                return None
            size = item_length - 2
            last = bool(control & 0x02)
            if control & 0x01:
                self._command_bytes += size
                if self._command_bytes > MAX_COMMAND_SET:
                    return f"a command set exceeded {MAX_COMMAND_SET} bytes"
                if last:
                    self._command_bytes = 0
            else:
                self._data_set_bytes += size
                if self._data_set_bytes > self.max_data_set:
                    return f"a data set exceeded DICOM_MAX_FILE_SIZE ({self.max_data_set} bytes)"
                if last:
                    self._data_set_bytes = 0
            offset += 4 + item_length
        return None

    def _refuse(self, problem: str, *, source: int, reason: int) -> None:
        """Tell the peer (A-ABORT), log once, and close both directions: pynetdicom then reads
        the end of the connection, as when a peer goes away, and ends the association."""
        self._refused = True
        logger.warning(
            "DICOM association from %s aborted: %s", self.assoc.requestor.address, problem
        )
        abort = A_ABORT_RQ()
        abort.source, abort.reason_diagnostic = source, reason
        raw = self.socket
        if raw is None:
            return
        with contextlib.suppress(OSError):
            raw.sendall(abort.encode())
        with contextlib.suppress(OSError):
            raw.shutdown(socket.SHUT_RDWR)


class RequestHandler(PynetdicomRequestHandler):
    """One connection, in its own thread: the TLS handshake, then pynetdicom's association."""

    server: AssociationServer

    def handle(self) -> None:
        if self.server.ssl_context is not None and not self._handshake_if_room():
            return
        super().handle()

    def _handshake_if_room(self) -> bool:
        """Each handshake holds a thread for up to TLS_HANDSHAKE_TIMEOUT: beyond a few at
        once (silent clients opening connection after connection), new ones are closed."""
        assert self.server.ssl_context is not None
        if not self.server.handshakes.acquire(blocking=False):
            logger.warning(
                "DICOM TLS connection from %s closed: too many handshakes in progress",
                self.client_address[0],
            )
            with contextlib.suppress(OSError):
                self.request.close()
            return False
        try:
            return self._handshake(self.server.ssl_context)
        finally:
            self.server.handshakes.release()

    def _handshake(self, context: ssl.SSLContext) -> bool:
        raw = self.request
        try:
            wrapped = context.wrap_socket(raw, server_side=True, do_handshake_on_connect=False)
        except OSError as error:
            logger.warning("DICOM TLS connection from %s failed: %s", self.client_address[0], error)
            raw.close()
            return False
        try:
            wrapped.settimeout(TLS_HANDSHAKE_TIMEOUT)
            wrapped.do_handshake()
            wrapped.settimeout(None)  # pynetdicom's reads block; its own timers end idle peers
        except (OSError, ValueError) as error:
            reason = getattr(error, "reason", None) or error.__class__.__name__
            logger.warning(
                "DICOM TLS handshake with %s refused: %s", self.client_address[0], reason
            )
            with contextlib.suppress(OSError):
                wrapped.close()
            return False
        self.request = wrapped
        return True

    def _create_association(self) -> Any:
        assoc = super()._create_association()
        assert assoc.dul.socket is not None  # set by pynetdicom from this connection
        BoundedSocket.adopt(
            assoc.dul.socket,
            max_pdu=self.ae.maximum_pdu_size,
            max_data_set=settings.DICOM_MAX_FILE_SIZE,
        )
        return assoc


class AssociationServer(ThreadedAssociationServer):
    """pynetdicom's threaded server with our request handler; TLS is left to the handler."""

    # Connection threads do a handshake and start the association's own threads, then end; a
    # silent client must not hold the process (or `shutdown`) for its handshake timeout.
    daemon_threads = True
    block_on_close = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["request_handler"] = RequestHandler
        super().__init__(*args, **kwargs)
        # Twice the associations we serve: room for every sender to reconnect at once.
        self.handshakes = threading.BoundedSemaphore(2 * self.ae.maximum_associations)

    def get_request(self) -> tuple[socket.socket, tuple[str, int]]:
        assert self.socket is not None
        return self.socket.accept()

    def shutdown(self) -> None:
        # pynetdicom's also removes the server from its AE's list of those it started itself.
        with contextlib.suppress(ValueError):
            super().shutdown()
