"""Send to PACS from the worklist: select studies, "Send to PACS…", confirm the node, and see
each study's send (a pynetdicom SCP started here is the PACS)."""

from __future__ import annotations

import socket
import uuid
from html import escape

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.http import Http404
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from pydicom.uid import generate_uid

from audit.models import AuditEvent
from dicomnet.models import DicomSend
from dicomnet.services import MAX_SEND_STUDIES, remote_node_create, studies_send
from tests.dicomnet import test_send
from tests.dicomnet.test_send import node_at
from tests.dicomweb.apidata import Stored, ct_files, store
from tests.factories import OrganisationFactory, StudyFactory, WorklistFactory, add_to_worklist

pytestmark = pytest.mark.django_db

sender = test_send.sender  # the fixture: a user who may view and send from the worklist
pacs = test_send.pacs  # the fixture: a Storage SCP on loopback


@pytest.fixture
def two(worklist) -> list[Stored]:  # type: ignore[no-untyped-def]
    """Two studies of the worklist, stored through the real ingest (2 and 3 images)."""
    found = []
    for per_series in (1, 3):
        study_uid, series_uids = str(generate_uid()), [str(generate_uid())]
        datasets = ct_files(study_uid, series_uids, per_series)
        [study] = store(worklist, datasets)
        found.append(
            Stored(study, study_uid, series_uids, [str(d.SOPInstanceUID) for d in datasets])
        )
    return found


def confirm_url(worklist) -> str:  # type: ignore[no-untyped-def]
    return reverse("dicomnet:worklist_send", args=[worklist.public_id])


def sends_url(worklist) -> str:  # type: ignore[no-untyped-def]
    return reverse("dicomnet:worklist_sends", args=[worklist.public_id])


def ids(*studies) -> list[str]:  # type: ignore[no-untyped-def]
    return [str(s.study.public_id if isinstance(s, Stored) else s.public_id) for s in studies]


def test_the_selection_bar_offers_send_to_pacs_to_those_who_may(login, sender, read_only, worklist):
    page = reverse("worklists:detail", args=[worklist.public_id])
    theirs = login(sender).get(page).content.decode()
    assert f'formaction="{confirm_url(worklist)}" data-worklist-action="send_to_pacs"' in theirs
    assert "Send to PACS…</button>" in theirs
    assert 'data-worklist-action="send_to_pacs"' not in login(read_only).get(page).content.decode()


def test_two_selected_studies_are_confirmed_sent_and_shown_sent(
    login,
    sender,
    worklist,
    two,
    pacs,
    django_capture_on_commit_callbacks,
    django_assert_max_num_queries,
):
    node = node_at(worklist, pacs.port)
    client = login(sender)
    confirm = client.get(confirm_url(worklist), {"study": ids(*two)})
    assert confirm.status_code == 200
    html = confirm.content.decode()
    assert "2 studies will be sent" in html and "Main PACS (REMOTE_PACS)" in html
    assert html.count('name="study"') == 2 and "Send 2 studies</button>" in html

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            confirm_url(worklist), {"study": ids(*two), "node": str(node.public_id)}
        )
    assert response.status_code == 302
    sends = DicomSend.objects.order_by("id")
    assert [s.status for s in sends] == ["sent", "sent"]
    assert {s.study_id for s in sends} == {s.study.pk for s in two}
    assert response["Location"] == sends_url(worklist) + "?" + "&".join(
        f"send={s.public_id}" for s in sends
    )
    assert sorted(pacs.received) == sorted(two[0].sop_uids + two[1].sop_uids)
    events = AuditEvent.objects.filter(action=AuditEvent.Action.STUDY_SENT)
    assert sorted(e.study_instance_uid for e in events) == sorted(s.study_uid for s in two)

    with django_assert_max_num_queries(12):  # the same for 2 or 25 sends
        page = client.get(response["Location"])
    body = page.content.decode()
    assert page.status_code == 200 and body.count("Sent</span>") == 2
    assert "data-poll-url" not in body  # nothing under way: no polling
    for stored in two:
        study_page = reverse("studies:detail", args=[stored.study.public_id])
        assert f'href="{study_page}?worklist={worklist.public_id}"' in body


def test_a_failed_send_shows_its_reason_and_can_be_sent_again(
    login, sender, worklist, two, settings, django_capture_on_commit_callbacks
):
    settings.DICOM_SEND_RETRY_DELAYS = []
    with socket.socket() as probe:  # a port with nothing listening
        probe.bind(("127.0.0.1", 0))
        node = node_at(worklist, probe.getsockname()[1])
    client = login(sender)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            confirm_url(worklist), {"study": ids(two[0]), "node": str(node.public_id)}
        )
    body = client.get(response["Location"]).content.decode()
    assert "Failed</span>" in body and "could not be reached" in body
    assert f'aria-label="Send {two[0].study.patient_display_name} again to Main PACS"' in body

    with django_capture_on_commit_callbacks(execute=True):  # the "Send again" form's POST
        again = client.post(
            confirm_url(worklist), {"study": ids(two[0]), "node": str(node.public_id)}
        )
    assert again.status_code == 302
    assert DicomSend.objects.filter(study=two[0].study).count() == 2


def test_a_send_under_way_is_polled_and_the_page_without_ids_lists_the_latest(
    login, sender, worklist, two, pacs
):
    node = node_at(worklist, pacs.port)
    queued = DicomSend.objects.create(study=two[0].study, worklist=worklist, node=node, total=1)
    other_worklist = WorklistFactory(organisation=worklist.organisation)
    add_to_worklist(two[1].study, other_worklist)
    elsewhere = DicomSend.objects.create(study=two[1].study, worklist=other_worklist, node=node)
    client = login(sender)
    url = f"{sends_url(worklist)}?send={queued.public_id}&send={elsewhere.public_id}"
    body = client.get(url).content.decode()
    assert f'data-poll-url="{escape(url)}"' in body and "Queued</span>" in body
    assert body.count('class="dicom-send ') == 1  # another worklist's send is not shown
    latest = client.get(sends_url(worklist)).content.decode()
    assert "Recent sends to PACS" in latest and latest.count('class="dicom-send ') == 1


def test_the_sends_page_costs_the_same_for_one_send_or_many(login, sender, worklist, two, pacs):
    node = node_at(worklist, pacs.port)
    client = login(sender)

    def queries_for(count: int) -> int:
        DicomSend.objects.all().delete()
        for n in range(count):
            study = two[n % 2].study
            DicomSend.objects.create(study=study, worklist=worklist, node=node, status="sent")
        client.get(sends_url(worklist))  # the session and permissions are warm
        with CaptureQueriesContext(connection) as captured:
            body = client.get(sends_url(worklist)).content.decode()
        assert body.count('class="dicom-send ') == count
        return len(captured)

    assert queries_for(1) == queries_for(MAX_SEND_STUDIES)


def test_who_may_send_from_the_worklist(login, sender, read_only, outsider, worklist, two, pacs):
    node = node_at(worklist, pacs.port)
    post = {"study": ids(*two), "node": str(node.public_id)}
    for url in (confirm_url(worklist), sends_url(worklist)):
        assert login(read_only).get(url, {"study": ids(*two)}).status_code == 403
        assert login(outsider).get(url, {"study": ids(*two)}).status_code == 404
    assert login(read_only).post(confirm_url(worklist), post).status_code == 403
    assert login(outsider).post(confirm_url(worklist), post).status_code == 404
    assert login(sender).put(confirm_url(worklist)).status_code == 405
    assert login(sender).post(sends_url(worklist)).status_code == 405
    assert not DicomSend.objects.exists()


def test_crafted_choices_are_refused_and_nothing_is_queued(login, sender, worklist, two, pacs):
    node = node_at(worklist, pacs.port)
    theirs = remote_node_create(
        organisation=OrganisationFactory(name="Other"),
        name="Their PACS",
        ae_title="THEIRS",
        host="127.0.0.1",
        port=pacs.port,
    )
    not_here = StudyFactory()  # in another worklist of the same organisation
    add_to_worklist(not_here, WorklistFactory(organisation=worklist.organisation))
    client = login(sender)
    url = confirm_url(worklist)
    mine = str(node.public_id)
    assert client.post(url, {"study": ids(*two, not_here), "node": mine}).status_code == 404
    assert client.post(url, {"study": ids(*two), "node": str(theirs.public_id)}).status_code == 404
    assert client.post(url, {"study": ids(*two), "node": "nonsense"}).status_code == 404
    assert client.post(url, {"study": ["nonsense"], "node": mine}).status_code == 404
    assert client.get(url, {"study": ids(not_here)}).status_code == 404
    missing = client.post(url, {"study": ids(*two)})
    assert (
        missing.status_code == 400
        and "Choose the DICOM node to send to." in missing.content.decode()
    )
    none = client.post(url, {"node": mine})
    assert none.status_code == 400
    assert "Select at least one study on the worklist first." in none.content.decode()
    assert not DicomSend.objects.exists()
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.STUDY_SENT).exists()


def test_more_studies_than_one_send_takes_are_refused_before_any_is_looked_up(
    login, sender, worklist, pacs, django_assert_max_num_queries
):
    node = node_at(worklist, pacs.port)
    chosen = [str(uuid.uuid4()) for _ in range(MAX_SEND_STUDIES + 1)]
    client = login(sender)
    client.get(confirm_url(worklist))  # the session and permissions are warm
    with django_assert_max_num_queries(6):
        response = client.post(
            confirm_url(worklist), {"study": chosen, "node": str(node.public_id)}
        )
    assert response.status_code == 400
    assert f"One send takes at most {MAX_SEND_STUDIES} studies; 26 were selected" in (
        response.content.decode()
    )
    assert client.get(sends_url(worklist), {"send": chosen}).status_code == 400
    assert not DicomSend.objects.exists()


def test_studies_send_checks_everything_itself(sender, read_only, worklist, two, pacs):
    """The service, called without the views: the cap, the worklist, the permission and the
    node's organisation; all or nothing."""
    node = node_at(worklist, pacs.port)
    studies = [s.study for s in two]
    many = [StudyFactory() for _ in range(MAX_SEND_STUDIES + 1)]
    with pytest.raises(ValidationError, match="at most 25"):
        studies_send(actor=sender, worklist=worklist, studies=many, node=node)
    with pytest.raises(ValidationError, match="Select at least one"):
        studies_send(actor=sender, worklist=worklist, studies=[], node=node)
    with pytest.raises(Http404):
        studies_send(actor=sender, worklist=worklist, studies=[*studies, many[0]], node=node)
    with pytest.raises(PermissionDenied, match="does not allow sending"):
        studies_send(actor=read_only, worklist=worklist, studies=studies, node=node)
    other = remote_node_create(
        organisation=OrganisationFactory(name="Other"),
        name="Their PACS",
        ae_title="THEIRS",
        host="127.0.0.1",
        port=pacs.port,
    )
    with pytest.raises(PermissionDenied, match="not one of this worklist's organisation's"):
        studies_send(actor=sender, worklist=worklist, studies=studies, node=other)
    assert not DicomSend.objects.exists()
