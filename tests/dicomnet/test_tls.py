"""The Storage SCP over TLS: pynetdicom clients with and without certificates, a plain-TCP
client, and a client that connects and never says a word."""

from __future__ import annotations

import logging
import socket
import time

import pytest

from dicomnet import transport
from dicomnet.scp import StorageSCP
from studies.models import Instance

from .conftest import MODALITY, client, ct
from .tls import Pki

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def pki(tmp_path) -> Pki:  # type: ignore[no-untyped-def]
    return Pki(tmp_path / "pki")


@pytest.fixture
def tls_port(pki, settings, transactional_db):  # type: ignore[no-untyped-def]
    """A Storage SCP requiring TLS and a client certificate signed by `pki`."""
    server = pki.issue("scp", server=True)
    settings.DICOM_SCP_TLS_CERTIFICATE = str(server.certificate)
    settings.DICOM_SCP_TLS_KEY = str(server.key)
    settings.DICOM_SCP_TLS_CA = str(pki.certificate)
    scp = StorageSCP().start(("127.0.0.1", 0))
    yield int(scp.server_address[1])
    scp.shutdown()


def tls_associate(port: int, called: str, context):  # type: ignore[no-untyped-def]
    return client(MODALITY).associate(
        "127.0.0.1", port, ae_title=called, tls_args=(context, "localhost")
    )


def test_a_client_with_a_certificate_echoes_and_stores(tls_port, pki, node, worklist):
    context = pki.client_context(pki.issue("modality"))
    assoc = tls_associate(tls_port, worklist.ae_title, context)
    assert assoc.is_established
    assert assoc.send_c_echo().Status == 0x0000
    ds = ct()
    assert assoc.send_c_store(ds).Status == 0x0000
    assoc.release()
    assert Instance.objects.filter(sop_instance_uid=ds.SOPInstanceUID).exists()


def ours(caplog):  # type: ignore[no-untyped-def]
    """The SCP's records (the client's pynetdicom logs its side of the failure too)."""
    return [r for r in caplog.records if r.name.startswith("dicomnet")]


def test_a_client_without_a_certificate_is_refused(tls_port, pki, node, worklist, caplog):
    with caplog.at_level(logging.WARNING, logger="dicomnet.transport"):
        assoc = tls_associate(tls_port, worklist.ae_title, pki.client_context())
        assert not assoc.is_established
        deadline = time.monotonic() + 10
        while not ours(caplog) and time.monotonic() < deadline:
            time.sleep(0.05)
    [record] = ours(caplog)
    assert record.getMessage().startswith("DICOM TLS handshake with 127.0.0.1 refused: ")
    assert record.exc_info is None


def test_a_certificate_of_another_authority_is_refused(tls_port, pki, node, worklist, tmp_path):
    stranger = Pki(tmp_path / "elsewhere", name="Another CA").issue("modality")
    context = pki.client_context()  # trusts our server ...
    context.load_cert_chain(str(stranger.certificate), str(stranger.key))  # ... not our CA's
    assoc = tls_associate(tls_port, worklist.ae_title, context)
    assert not assoc.is_established


def test_without_a_ca_any_tls_client_is_served(pki, node, worklist, settings):
    server = pki.issue("scp", server=True)
    settings.DICOM_SCP_TLS_CERTIFICATE = str(server.certificate)
    settings.DICOM_SCP_TLS_KEY = str(server.key)
    scp = StorageSCP().start(("127.0.0.1", 0))
    try:
        assoc = tls_associate(int(scp.server_address[1]), worklist.ae_title, pki.client_context())
        assert assoc.is_established
        assert assoc.send_c_echo().Status == 0x0000
        assoc.release()
    finally:
        scp.shutdown()


def test_a_plain_tcp_client_fails_cleanly_and_the_scp_serves_on(tls_port, pki, node, worklist):
    ae = client(MODALITY)
    ae.acse_timeout = ae.network_timeout = 10
    plain = ae.associate("127.0.0.1", tls_port, ae_title=worklist.ae_title)
    assert not plain.is_established
    context = pki.client_context(pki.issue("modality"))
    assoc = tls_associate(tls_port, worklist.ae_title, context)
    assert assoc.is_established
    assoc.release()


def test_a_silent_connection_does_not_hold_up_another_client(tls_port, pki, node, worklist):
    context = pki.client_context(pki.issue("modality"))
    with socket.create_connection(("127.0.0.1", tls_port)) as silent:
        time.sleep(0.2)  # accepted, and waiting for a ClientHello that never comes
        started = time.monotonic()
        assoc = tls_associate(tls_port, worklist.ae_title, context)
        assert assoc.is_established
        assert assoc.send_c_echo().Status == 0x0000
        assoc.release()
        assert time.monotonic() - started < transport.TLS_HANDSHAKE_TIMEOUT / 3
        silent.setblocking(False)
        with pytest.raises(BlockingIOError):  # still waited on: nothing to read, not closed
            silent.recv(1)


def test_a_silent_connection_is_closed_after_the_handshake_timeout(
    tls_port, node, worklist, monkeypatch
):
    monkeypatch.setattr(transport, "TLS_HANDSHAKE_TIMEOUT", 0.5)
    with socket.create_connection(("127.0.0.1", tls_port), timeout=10) as silent:
        started = time.monotonic()
        assert silent.recv(1) == b""  # closed by the SCP
        assert time.monotonic() - started < 5


def test_silent_connections_beyond_twice_the_associations_are_closed_at_once(
    pki, node, worklist, settings, transactional_db
):
    settings.DICOM_SCP_MAX_ASSOCIATIONS = 1  # room for two handshakes at once
    server = pki.issue("scp", server=True)
    settings.DICOM_SCP_TLS_CERTIFICATE = str(server.certificate)
    settings.DICOM_SCP_TLS_KEY = str(server.key)
    scp = StorageSCP().start(("127.0.0.1", 0))
    port = int(scp.server_address[1])
    try:
        silent = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(2)]
        time.sleep(0.2)  # both accepted, waiting for a ClientHello
        with socket.create_connection(("127.0.0.1", port), timeout=10) as third:
            started = time.monotonic()
            assert third.recv(1) == b""  # closed, not waited on
            assert time.monotonic() - started < transport.TLS_HANDSHAKE_TIMEOUT / 3
        for connection in silent:
            connection.close()
        time.sleep(0.2)  # their handshakes fail and free their places
        assoc = tls_associate(port, worklist.ae_title, pki.client_context(pki.issue("modality")))
        assert assoc.is_established
        assoc.release()
    finally:
        scp.shutdown()


def test_a_store_over_the_limit_is_aborted_over_tls_too(tls_port, pki, node, worklist, settings):
    settings.DICOM_MAX_FILE_SIZE = 4096
    context = pki.client_context(pki.issue("modality"))
    assoc = tls_associate(tls_port, worklist.ae_title, context)
    assert assoc.is_established
    assert len(assoc.send_c_store(ct())) == 0  # no status: aborted
    deadline = time.monotonic() + 10
    while not assoc.is_aborted and time.monotonic() < deadline:
        time.sleep(0.05)
    assert assoc.is_aborted
    assert not Instance.objects.exists()
