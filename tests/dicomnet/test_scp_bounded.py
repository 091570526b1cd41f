"""Hostile senders against the Storage SCP, which runs in a forked child under a memory limit
(tests/bounded.py): a PDU announcing 4 GiB, and a C-STORE larger than DICOM_MAX_FILE_SIZE,
abort the association without the SCP taking the memory, and the next store succeeds."""

from __future__ import annotations

import contextlib
import logging
import socket
import struct
import time

import pytest
from django.core.exceptions import ImproperlyConfigured
from pydicom.uid import ExplicitVRLittleEndian
from pynetdicom import PYNETDICOM_IMPLEMENTATION_UID
from pynetdicom.pdu import A_ASSOCIATE_RQ
from pynetdicom.pdu_primitives import (
    A_ASSOCIATE,
    ImplementationClassUIDNotification,
    MaximumLengthNotification,
)
from pynetdicom.presentation import build_context
from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]
from pynetdicom.transport import AddressInformation

from dicomnet.scp import StorageSCP
from studies.models import Instance
from testkit.dicom_files import dataset, phantom
from tests.bounded import MiB, bounded

from .conftest import MODALITY, associate, ct

pytestmark = pytest.mark.django_db(transaction=True)

A_ASSOCIATE_AC, A_ABORT = 0x02, 0x07


def associate_rq(called: str) -> bytes:
    """An A-ASSOCIATE-RQ as a PACS would send it: verification, our modality calling."""
    primitive = A_ASSOCIATE()
    primitive.application_context_name = "1.2.840.10008.3.1.1.1"
    primitive.calling_ae_title = MODALITY
    primitive.called_ae_title = called
    primitive.calling_presentation_address = AddressInformation("127.0.0.1", 0)
    primitive.called_presentation_address = AddressInformation("127.0.0.1", 0)
    context = build_context(Verification, [ExplicitVRLittleEndian])
    context.context_id = 1
    primitive.presentation_context_definition_list = [context]
    maximum = MaximumLengthNotification()
    maximum.maximum_length_received = 16382
    implementation = ImplementationClassUIDNotification()
    implementation.implementation_class_uid = PYNETDICOM_IMPLEMENTATION_UID
    primitive.user_information = [maximum, implementation]
    pdu = A_ASSOCIATE_RQ()
    pdu.from_primitive(primitive)
    return bytes(pdu.encode())


def read_pdu(peer: socket.socket) -> tuple[int, bytes]:
    header = peer.recv(6, socket.MSG_WAITALL)
    assert len(header) == 6, f"the SCP closed the connection instead of answering ({header!r})"
    pdu_type, _, length = struct.unpack(">BBL", header)
    assert length < MiB
    return pdu_type, peer.recv(length, socket.MSG_WAITALL)


class Warnings(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.seen: list[tuple[str, str, bool]] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(("dicomnet", "pynetdicom")):
            self.seen.append((record.name, record.getMessage(), record.exc_info is not None))


def serve_in_child(attempt):  # type: ignore[no-untyped-def]
    """Run `attempt(port)` against an SCP started in the bounded child; its result and what
    was logged at WARNING or above meanwhile, by us or by pynetdicom."""

    def call():  # type: ignore[no-untyped-def]
        warnings = Warnings()
        logging.getLogger().addHandler(warnings)
        server = StorageSCP().start(("127.0.0.1", 0))
        try:
            return attempt(int(server.server_address[1])), warnings.seen
        finally:
            server.shutdown()

    return bounded(call, headroom=512 * MiB, timeout=120)


def test_a_pdu_announcing_4_gib_aborts_before_it_is_read(node, worklist):
    def attempt(port: int):  # type: ignore[no-untyped-def]
        sent = 0
        with socket.create_connection(("127.0.0.1", port), timeout=20) as peer:
            peer.sendall(associate_rq(worklist.ae_title))
            accepted, _ = read_pdu(peer)
            # A P-DATA-TF header announcing 4 GiB - 1, then data for as long as the SCP takes
            # it: an SCP believing the header would read until its memory limit.
            peer.sendall(struct.pack(">BBL", 0x04, 0, 0xFFFF_FFFF))
            chunk = bytes(64 * 1024)
            try:
                while sent < 1024 * MiB:
                    peer.sendall(chunk)
                    sent += len(chunk)
            except OSError:
                pass  # the SCP closed the connection: what it should do
            answer = read_pdu(peer)
        # The SCP still serves: an echo from a well-behaved client.
        assoc = associate(port, worklist.ae_title)
        echo = assoc.send_c_echo().Status
        assoc.release()
        return accepted, answer, sent, echo

    outcome = serve_in_child(attempt)
    (accepted, (answer, body), sent, echo), warnings = outcome.value
    assert accepted == A_ASSOCIATE_AC
    # A-ABORT from the service provider (2), "invalid PDU parameter value" (6).
    assert answer == A_ABORT and body[2:4] == b"\x02\x06"
    assert sent < 64 * MiB, "the SCP went on reading after the header"
    assert outcome.peak_growth < 100 * MiB
    assert echo == 0x0000
    assert warnings == [
        (
            "dicomnet.transport",
            "DICOM association from 127.0.0.1 aborted: a PDU announced 4294967295 bytes, more "
            f"than DICOM_SCP_MAX_PDU ({MiB})",
            False,
        )
    ]


def test_a_store_larger_than_the_file_limit_aborts_and_the_next_one_succeeds(
    node, worklist, settings
):
    settings.DICOM_MAX_FILE_SIZE = 200 * 1024
    large = dataset(phantom(rows=512, columns=512), bits_stored=12)  # 512 KiB of pixels
    small = ct()

    def attempt(port: int):  # type: ignore[no-untyped-def]
        assoc = associate(port, worklist.ae_title)
        assert assoc.is_established
        refused = assoc.send_c_store(large)
        deadline = time.monotonic() + 10
        while not assoc.is_aborted and time.monotonic() < deadline:
            time.sleep(0.05)
        aborted = assoc.is_aborted
        assoc = associate(port, worklist.ae_title)
        status = assoc.send_c_store(small).Status
        assoc.release()
        stored = set(Instance.objects.values_list("sop_instance_uid", flat=True))
        return len(refused), aborted, status, stored

    (refused, aborted, status, stored), warnings = serve_in_child(attempt).value
    assert refused == 0  # no status: the association was aborted instead
    assert aborted
    assert status == 0x0000
    assert stored == {small.SOPInstanceUID}
    assert warnings == [
        (
            "dicomnet.transport",
            "DICOM association from 127.0.0.1 aborted: a data set exceeded DICOM_MAX_FILE_SIZE "
            "(204800 bytes)",
            False,
        )
    ]


def test_a_maximum_pdu_too_small_for_an_association_request_is_refused_at_start(settings):
    settings.DICOM_SCP_MAX_PDU = 16 * 1024
    with pytest.raises(ImproperlyConfigured, match="DICOM_SCP_MAX_PDU must be at least 65536"):
        StorageSCP().start(("127.0.0.1", 0))


@pytest.mark.parametrize("drip", [False, True], ids=["stalled", "dripping"])
def test_a_sender_stalling_within_a_pdu_is_aborted_after_the_network_timeout(
    node, worklist, settings, drip
):
    """Half a PDU, then silence (or a byte now and then): the association's thread must not
    wait on it for ever, or a few such senders would hold every association slot."""
    settings.DICOM_SCP_NETWORK_TIMEOUT = 1

    def attempt(port: int):  # type: ignore[no-untyped-def]
        with socket.create_connection(("127.0.0.1", port), timeout=20) as peer:
            peer.sendall(associate_rq(worklist.ae_title))
            accepted, _ = read_pdu(peer)
            started = time.monotonic()
            peer.sendall(struct.pack(">BBL", 0x04, 0, 1000) + bytes(10))
            if drip:
                with contextlib.suppress(OSError):
                    for _ in range(40):  # 0.25 s apart: each byte well within the timeout
                        time.sleep(0.25)
                        peer.sendall(b"\0")
            answer = read_pdu(peer)
            waited = time.monotonic() - started
        assoc = associate(port, worklist.ae_title)
        echo = assoc.send_c_echo().Status
        assoc.release()
        return accepted, answer, waited, echo

    (accepted, (answer, _), waited, echo), warnings = serve_in_child(attempt).value
    assert accepted == A_ASSOCIATE_AC
    assert answer == A_ABORT
    assert waited < 5
    assert echo == 0x0000
    # pynetdicom notices the silence too ("Network timeout reached") but cannot end the
    # association while its reader waits on the socket: our deadline is what frees it.
    stalled = (
        "dicomnet.transport",
        "DICOM association from 127.0.0.1 aborted: the sender stalled in the middle of a PDU",
        False,
    )
    assert stalled in warnings
    assert set(warnings) <= {stalled, ("pynetdicom.association", "Network timeout reached", False)}
