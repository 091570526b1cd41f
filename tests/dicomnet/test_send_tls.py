"""Send to PACS over DICOM TLS, against a pynetdicom SCP started here with certificates made
for the test (tests/dicomnet/tls.py); and the connect timeout."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.urls import reverse

from dicomnet.models import DicomSend, RemoteNode
from dicomnet.services import remote_node_create
from tests.adminforms import admin_form_data
from tests.dicomnet import test_send
from tests.dicomnet.test_send import PACS, Pacs, send
from tests.dicomnet.tls import SERVER_HOSTS, Issued, Pki
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

sender = test_send.sender  # the fixture: a user who may view and send from the worklist


@dataclass(frozen=True)
class Hospital:
    """A hospital's certificate authority, its PACS's server certificate and ours."""

    ca: Path
    server: Issued
    client: Issued


def hospital(folder: Path, name: str, hosts: tuple[str, ...] = SERVER_HOSTS) -> Hospital:
    authority = Pki(folder, f"{name} CA")
    return Hospital(
        ca=authority.certificate,
        server=authority.issue("pacs", server=True, hosts=hosts),
        client=authority.issue("cimar"),
    )


@pytest.fixture
def pki(tmp_path) -> Hospital:  # type: ignore[no-untyped-def]
    return hospital(tmp_path / "pki", "Hospital")


def server_context(pki: Hospital, *, client_certificates: bool = True) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.server.certificate, pki.server.key)
    if client_certificates:  # as a PACS that admits only the senders its CA certified
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(pki.ca)
    return context


@pytest.fixture
def trusting(settings, pki):  # type: ignore[no-untyped-def]
    """Our side trusts the test CA and presents the client certificate it signed."""
    settings.DICOM_SEND_TLS_CA = str(pki.ca)
    settings.DICOM_SEND_TLS_CERTIFICATE = str(pki.client.certificate)
    settings.DICOM_SEND_TLS_KEY = str(pki.client.key)
    settings.DICOM_SEND_RETRY_DELAYS = []  # fail at the first attempt: these are not transient
    settings.DICOM_SEND_CONNECT_TIMEOUT = 5
    return settings


@pytest.fixture
def tls_pacs(pki):  # type: ignore[no-untyped-def]
    server = Pacs(ssl_context=server_context(pki))
    yield server
    server.server.shutdown()


def tls_node(worklist, port: int) -> RemoteNode:  # type: ignore[no-untyped-def]
    return remote_node_create(
        organisation=worklist.organisation,
        name="Secure PACS",
        ae_title=PACS,
        host="127.0.0.1",
        port=port,
        tls=True,
    )


def panel(client, stored, worklist) -> str:  # type: ignore[no-untyped-def]
    page = client.get(
        reverse("studies:detail", args=[stored.study.public_id]),
        {"worklist": str(worklist.public_id)},
    )
    return str(page.content.decode())


def test_a_study_is_sent_over_tls_with_our_client_certificate(
    login, sender, worklist, stored, trusting, tls_pacs, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        send(login(sender), stored, worklist, tls_node(worklist, tls_pacs.port))
    done = DicomSend.objects.get()
    assert (done.status, done.sent, done.reason) == ("sent", 4, "")
    assert sorted(tls_pacs.received) == sorted(stored.sop_uids)


def test_the_same_node_without_tls_is_not_answered(
    login, sender, worklist, stored, trusting, tls_pacs, django_capture_on_commit_callbacks
):
    """The node expects TLS: a plain association gets nowhere (so the first test's TLS was
    real), and the send fails with a reason rather than hanging."""
    node = tls_node(worklist, tls_pacs.port)
    RemoteNode.objects.filter(pk=node.pk).update(tls=False)
    with django_capture_on_commit_callbacks(execute=True):
        send(login(sender), stored, worklist, node)
    result = DicomSend.objects.get()
    assert result.status == "failed" and result.reason
    assert tls_pacs.received == []


def test_a_node_whose_certificate_we_do_not_trust_fails_with_the_reason_on_the_panel(
    login,
    sender,
    worklist,
    stored,
    trusting,
    tls_pacs,
    tmp_path,
    django_capture_on_commit_callbacks,
):
    trusting.DICOM_SEND_TLS_CA = str(hospital(tmp_path / "other", "Other").ca)
    with django_capture_on_commit_callbacks(execute=True):
        send(login(sender), stored, worklist, tls_node(worklist, tls_pacs.port))
    result = DicomSend.objects.get()
    assert result.status == "failed"
    assert result.reason.startswith(
        "The secure (TLS) connection to Secure PACS failed: its certificate was not accepted ("
    )
    assert "certificate" in result.reason.split("(", 1)[1]  # OpenSSL's own words, after "("
    assert tls_pacs.received == []
    html = panel(login(sender), stored, worklist)
    assert "its certificate was not accepted" in html and "Failed</span>" in html


def test_a_certificate_for_another_host_is_refused(
    login, sender, worklist, stored, trusting, tmp_path, django_capture_on_commit_callbacks
):
    """Signed by the CA we trust, but for pacs.test, not 127.0.0.1: the host name is checked,
    not only the CA."""
    elsewhere = hospital(tmp_path / "elsewhere", "Hospital", hosts=("pacs.test",))
    trusting.DICOM_SEND_TLS_CA = str(elsewhere.ca)
    pacs = Pacs(ssl_context=server_context(elsewhere, client_certificates=False))
    try:
        with django_capture_on_commit_callbacks(execute=True):
            send(login(sender), stored, worklist, tls_node(worklist, pacs.port))
    finally:
        pacs.server.shutdown()
    result = DicomSend.objects.get()
    assert result.status == "failed" and "certificate was not accepted" in result.reason
    assert "127.0.0.1" in result.reason and pacs.received == []


def test_a_node_that_never_answers_the_handshake_fails_after_the_connect_timeout(
    login, sender, worklist, stored, trusting, django_capture_on_commit_callbacks
):
    trusting.DICOM_SEND_CONNECT_TIMEOUT = 1
    trusting.DICOM_SEND_TIMEOUT = 60  # not the bound that ends it
    silent = socket.create_server(("127.0.0.1", 0))  # takes the connection, then says nothing

    def hang_up_later() -> None:
        # Without the connect timeout the handshake would wait forever: hang up after 20 s so
        # that such a regression fails this test (slow, wrong reason) rather than hanging it.
        silent.settimeout(20)
        try:
            held, _ = silent.accept()
        except OSError:
            return
        time.sleep(20)
        held.close()

    threading.Thread(target=hang_up_later, daemon=True).start()
    node = tls_node(worklist, silent.getsockname()[1])
    started = time.monotonic()
    with django_capture_on_commit_callbacks(execute=True):
        send(login(sender), stored, worklist, node)
    took = time.monotonic() - started
    silent.close()
    result = DicomSend.objects.get()
    assert result.status == "failed"
    assert result.reason == f"Secure PACS did not answer at 127.0.0.1:{node.port} within 1 s."
    assert took < 15


def test_tls_settings_that_cannot_be_loaded_fail_the_send_without_naming_files(
    login, sender, worklist, stored, trusting, tls_pacs, django_capture_on_commit_callbacks
):
    trusting.DICOM_SEND_TLS_CA = "/nonexistent/secret-ca.pem"
    with django_capture_on_commit_callbacks(execute=True):
        send(login(sender), stored, worklist, tls_node(worklist, tls_pacs.port))
    result = DicomSend.objects.get()
    assert result.status == "failed"
    assert "TLS settings for sending (DICOM_SEND_TLS_*) could not be loaded" in result.reason
    assert "secret-ca" not in result.reason


def test_an_administrator_marks_a_node_tls(client, worklist):  # type: ignore[no-untyped-def]
    node = tls_node(worklist, 11112)
    RemoteNode.objects.filter(pk=node.pk).update(tls=False)
    client.force_login(UserFactory(username="root", is_superuser=True, is_staff=True))
    url = reverse("admin:dicomnet_remotenode_change", args=[node.pk])
    page = client.get(url)
    assert 'name="tls"' in page.content.decode()
    response = client.post(url, {**admin_form_data(page), "tls": "on"})
    assert response.status_code == 302
    node.refresh_from_db()
    assert node.tls is True
