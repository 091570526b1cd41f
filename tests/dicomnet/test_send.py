"""Send to PACS: the action on the study page, the Celery task, and a pynetdicom SCP started
here as the receiving PACS."""

from __future__ import annotations

import socket
import ssl

import pytest
from django.urls import reverse
from pynetdicom import AE, AllStoragePresentationContexts, evt

from audit.models import AuditEvent
from dicomnet.models import DicomSend
from dicomnet.services import remote_node_create
from studies.models import Instance
from tests.factories import OrganisationFactory, UserFactory, grant

pytestmark = pytest.mark.django_db

PACS = "REMOTE_PACS"


class Pacs:
    """A Storage SCP that keeps the SOP Instance UIDs it receives; `refuse` gets A700; with an
    `ssl_context`, it listens with DICOM TLS."""

    def __init__(self, refuse: int = 0, ssl_context: ssl.SSLContext | None = None) -> None:
        self.received: list[str] = []
        self.calling: list[str] = []
        self.refuse = refuse
        ae = AE(ae_title=PACS)
        for context in AllStoragePresentationContexts:
            ae.add_supported_context(str(context.abstract_syntax), ["1.2.840.10008.1.2.1"])
        server = ae.start_server(
            ("127.0.0.1", 0),
            block=False,
            evt_handlers=[(evt.EVT_C_STORE, self.store)],
            ssl_context=ssl_context,
        )
        assert server is not None
        self.server = server
        self.port = int(self.server.server_address[1])

    def store(self, event):  # type: ignore[no-untyped-def]
        self.calling.append(str(event.assoc.requestor.ae_title).strip())
        if self.refuse and len(self.received) + 1 == self.refuse:
            self.received.append("")
            return 0xA700
        self.received.append(str(event.request.AffectedSOPInstanceUID))
        return 0x0000


@pytest.fixture
def pacs():  # type: ignore[no-untyped-def]
    server = Pacs()
    yield server
    server.server.shutdown()


@pytest.fixture
def sender(worklist):  # type: ignore[no-untyped-def]
    user = UserFactory(username="sender", organisation=worklist.organisation)
    grant(user, worklist, "view_studies", "send_to_dicom_node")
    return user


def node_at(worklist, port: int, name: str = "Main PACS"):  # type: ignore[no-untyped-def]
    return remote_node_create(
        organisation=worklist.organisation, name=name, ae_title=PACS, host="127.0.0.1", port=port
    )


def send(client, stored, worklist, node):  # type: ignore[no-untyped-def]
    return client.post(
        reverse("dicomnet:study_send", args=[stored.study.public_id]),
        {"worklist": str(worklist.public_id), "node": str(node.public_id)},
    )


def test_sending_a_study_to_a_pacs(
    login,
    sender,
    worklist,
    stored,
    pacs,
    django_capture_on_commit_callbacks,
):
    node = node_at(worklist, pacs.port)
    client = login(sender)
    page = reverse("studies:detail", args=[stored.study.public_id])
    before = client.get(f"{page}?worklist={worklist.public_id}").content.decode()
    assert "Send to PACS" in before and "Main PACS (REMOTE_PACS)" in before

    with django_capture_on_commit_callbacks(execute=True):
        response = send(client, stored, worklist, node)
    assert response.status_code == 302 and response["Location"].endswith("#dicom-send")
    assert sorted(pacs.received) == sorted(stored.sop_uids)
    assert set(pacs.calling) == {"CIMARSHARE"}
    done = DicomSend.objects.get()
    assert (done.status, done.sent, done.total, done.attempts) == ("sent", 4, 4, 1)
    assert done.finished_at is not None
    event = AuditEvent.objects.get(action=AuditEvent.Action.STUDY_SENT)
    assert event.actor == sender and event.study_instance_uid == stored.study_uid

    after = client.get(f"{page}?worklist={worklist.public_id}").content.decode()
    assert "Sent</span>" in after
    poll = client.get(
        reverse("dicomnet:send_panel", args=[stored.study.public_id]),
        {"worklist": str(worklist.public_id)},
    )
    assert poll.status_code == 200 and "Sent</span>" in poll.content.decode()


def test_images_the_pacs_refuses_make_the_send_failed_with_the_reason(
    login,
    sender,
    worklist,
    stored,
    django_capture_on_commit_callbacks,
):
    pacs = Pacs(refuse=2)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            send(login(sender), stored, worklist, node_at(worklist, pacs.port))
    finally:
        pacs.server.shutdown()
    result = DicomSend.objects.get()
    assert (result.status, result.sent, result.failed) == ("failed", 3, 1)
    assert "refused 1 of 4 images (status A700)" in result.reason


def test_an_unreachable_node_is_retried_then_failed(
    login,
    sender,
    worklist,
    stored,
    settings,
    django_capture_on_commit_callbacks,
):
    settings.DICOM_SEND_RETRY_DELAYS = [0]
    settings.DICOM_SEND_TIMEOUT = 2
    with socket.socket() as probe:  # a port with nothing listening
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with django_capture_on_commit_callbacks(execute=True):
        send(login(sender), stored, worklist, node_at(worklist, port))
    result = DicomSend.objects.get()
    assert (result.status, result.attempts) == ("failed", 2)
    assert "could not be reached" in result.reason
    page = login(sender).get(
        reverse("studies:detail", args=[stored.study.public_id]),
        {"worklist": str(worklist.public_id)},
    )
    assert "attempt 2" in page.content.decode()


def test_who_may_send(login, read_only, outsider, sender, worklist, stored, pacs):
    node = node_at(worklist, pacs.port)
    theirs = remote_node_create(
        organisation=OrganisationFactory(name="Other"),
        name="Their PACS",
        ae_title="THEIRS",
        host="127.0.0.1",
        port=pacs.port,
    )
    url = reverse("dicomnet:study_send", args=[stored.study.public_id])
    assert login(sender).get(url).status_code == 405
    assert send(login(read_only), stored, worklist, node).status_code == 403
    assert send(login(outsider), stored, worklist, node).status_code == 404
    assert send(login(sender), stored, worklist, theirs).status_code == 404
    bad = login(sender).post(url, {"worklist": "nonsense", "node": "x"})
    assert bad.status_code == 404
    assert not DicomSend.objects.exists()
    page = login(read_only).get(
        reverse("studies:detail", args=[stored.study.public_id]),
        {"worklist": str(worklist.public_id)},
    )
    assert "Send to PACS" not in page.content.decode()


def test_images_without_a_recorded_sop_class_fail_with_that_reason(
    login, sender, worklist, stored, pacs, settings, django_capture_on_commit_callbacks
):
    settings.DICOM_SEND_RETRY_DELAYS = []
    Instance.objects.filter(series__study=stored.study).update(sop_class_uid="")
    with django_capture_on_commit_callbacks(execute=True):
        send(login(sender), stored, worklist, node_at(worklist, pacs.port))
    result = DicomSend.objects.get()
    assert result.status == "failed" and "no SOP class" in result.reason
    assert pacs.received == []
