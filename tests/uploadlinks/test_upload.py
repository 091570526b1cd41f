"""An upload through a link: staged in chunks, ingested once, one use, the summary."""

import datetime

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from notifications.models import OutboundMessage
from studies.models import Instance, Study, WorklistEntry
from studies.services import NOT_HERE, study_ingest
from tests.factories import WorklistFactory, add_to_worklist
from tests.uploadlinks.conftest import (
    NAME,
    dicom,
    finish,
    open_gate,
    send_chunk,
    send_files,
    series_files,
    start,
    upload,
    zipped,
)
from uploadlinks import services
from uploadlinks.models import StagedFile, Upload, UploadLink

pytestmark = pytest.mark.django_db


def entry_of(study, worklist):
    return WorklistEntry.objects.get(study=study, worklist=worklist)


def test_a_folder_with_a_dicomdir_lands_in_the_worklist_marked_with_the_uploader(
    make_link, worklist, owner
):
    link = make_link(max_uses=3, label="St Mary's CD", notify_on_upload=True)
    files = series_files(4, folder="CDROM/DICOM/ST1")
    # A DICOMDIR naming paths outside the upload: never read for paths, never reported.
    files.append(("CDROM/DICOMDIR", b"\0" * 128 + b"DICM" + b"../../etc/passwd"))
    response = upload(link, files, note="Scan from March", email="pat@example.org", chunk=700)
    assert response.status_code == 200
    text = response.content.decode()
    assert "Upload complete" in text and "DOE, Jane" in text and "DICOMDIR" not in text
    study = Study.objects.get()
    assert study.number_of_instances == 4
    entry = entry_of(study, worklist)
    assert entry.source == "guest_upload" and entry.added_by is None
    assert entry.note == f"Uploaded by {NAME} through upload link St Mary's CD"
    link.refresh_from_db()
    assert link.use_count == 1
    done = Upload.objects.get()
    assert (done.status, done.imported, done.rejected_total) == ("completed", 4, 0)
    assert (done.uploader_email, done.note) == ("pat@example.org", "Scan from March")
    event = AuditEvent.objects.get(action="uploadlink_uploaded")
    assert event.details["uploader"] == NAME and event.details["imported"] == 4
    assert AuditEvent.objects.filter(action="study_uploaded", outcome="success").count() == 1
    notice = OutboundMessage.objects.get(template="uploadlink_received")
    assert notice.recipient == owner.email and notice.context["uploader"] == NAME
    # Staging is gone once the upload is in.
    assert not StagedFile.objects.filter(upload=done, received__lt=0).exists()
    assert not (services.staging.upload_dir(done.public_id)).exists()


def test_the_mark_shows_on_the_worklist_and_study_pages(make_link, worklist, owner, client):
    link = make_link(label="Referral")
    upload(link, series_files(1))
    study = Study.objects.get()
    client.force_login(owner)
    listing = client.get(reverse("worklists:detail", args=[worklist.public_id])).content.decode()
    mark = f"Uploaded by {NAME} through upload link Referral"
    assert mark in listing
    detail = client.get(reverse("studies:detail", args=[study.public_id])).content.decode()
    assert mark in detail


def test_a_zip_and_a_mixture_of_good_and_bad_files(make_link, worklist):
    link = make_link()
    good = series_files(3, folder="export")
    files = [
        ("export.zip", zipped(good + [("export/notes.pdf", b"%PDF-1.4 not dicom")])),
        ("loose/scan.dcm", dicom(description="Loose")),
        ("loose/photo.jpg", b"\xff\xd8\xff\xe0 not dicom"),
        ("empty.dcm", b""),
    ]
    response = upload(link, files)
    assert response.status_code == 200
    text = response.content.decode()
    assert Study.objects.count() == 2 and Instance.objects.count() == 4
    for refused in ("export.zip/export/notes.pdf", "loose/photo.jpg", "empty.dcm"):
        assert refused in text
    done = Upload.objects.get()
    assert done.rejected_total == 3 and done.imported == 4
    assert {row[0] for row in done.rejected} == {
        "export.zip/export/notes.pdf",
        "loose/photo.jpg",
        "empty.dcm",
    }


def test_an_upload_that_accepts_nothing_gives_its_use_back(make_link):
    link = make_link(max_uses=1)
    response = upload(link, [("a.txt", b"not dicom at all")])
    assert response.status_code == 200
    assert "Nothing was accepted" in response.content.decode()
    link.refresh_from_db()
    assert link.use_count == 0 and link.is_usable
    assert Upload.objects.get().status == "refused"


def test_each_completed_upload_counts_one_use_and_then_the_link_is_used_up(make_link):
    link = make_link(max_uses=2)
    assert upload(link, series_files(1)).status_code == 200
    assert upload(link, series_files(1)).status_code == 200
    link.refresh_from_db()
    assert link.use_count == 2 and link.state == "used_up"
    assert open_gate(Client(), link).status_code == 404


def test_uploads_racing_for_the_last_use_import_only_once(make_link):
    """Two browsers passed the gate while one use was left; the second to finish is refused
    and nothing of it is imported."""
    link = make_link(max_uses=1)
    first, second = Client(), Client()
    staged = []
    for browser in (first, second):
        assert open_gate(browser, link).status_code == 303
        files = series_files(2)
        started = start(browser, files).json()
        send_files(browser, started, files)
        staged.append(started)
    assert finish(first, staged[0]).status_code == 200
    refused = finish(second, staged[1])
    assert refused.status_code == 410 and "nothing was imported" in refused.json()["error"]
    assert Study.objects.count() == 1
    assert list(Upload.objects.values_list("status", flat=True).order_by("id")) == [
        "completed",
        "refused",
    ]


def test_an_interrupted_upload_imports_nothing_and_its_chunks_are_pruned(make_link, client):
    link = make_link(max_uses=1)
    assert open_gate(client, link).status_code == 303
    files = series_files(2)
    started = start(client, files).json()
    send_chunk(client, started["files"][0]["url"], files[0][1], 0)  # one file, then nothing
    upload_row = Upload.objects.get()
    folder = services.staging.upload_dir(upload_row.public_id)
    assert folder.exists()
    assert not Study.objects.exists() and not Instance.objects.exists()
    # Not all arrived: finishing is refused, nothing imported, no use taken.
    response = finish(client, started)
    assert response.status_code == 409
    assert not Study.objects.exists()
    Upload.objects.filter(pk=upload_row.pk).update(
        created_at=timezone.now() - datetime.timedelta(days=2)
    )
    assert services.upload_prune_staging() == 1
    assert not folder.exists()
    upload_row.refresh_from_db()
    link.refresh_from_db()
    assert upload_row.status == "refused" and link.use_count == 0


def test_a_file_resumes_from_what_arrived(make_link, client):
    link = make_link()
    assert open_gate(client, link).status_code == 303
    files = series_files(1)
    data = files[0][1]
    started = start(client, files).json()
    url = started["files"][0]["url"]
    assert send_chunk(client, url, data[:500], 0).json()["received"] == 500
    # A chunk past what arrived (the one before it was lost) is refused with where to resume.
    ahead = send_chunk(client, url, data[1000:1500], 1000)
    assert ahead.status_code == 409 and ahead.json()["received"] == 500
    assert client.get(url).json() == {"received": 500, "size": len(data)}
    # A chunk sent twice (the answer was lost) replaces itself.
    assert send_chunk(client, url, data[:500], 0).json()["received"] == 500
    assert send_chunk(client, url, data[500:], 500).json()["received"] == len(data)
    assert finish(client, started).status_code == 200
    assert Instance.objects.count() == 1


def test_limits_per_upload_and_per_request(make_link, client, settings):
    settings.UPLOADLINK_MAX_UPLOAD_FILES = 2
    settings.UPLOADLINK_MAX_UPLOAD_BYTES = 10_000
    settings.UPLOADLINK_CHUNK_BYTES = 1000
    link = make_link()
    assert open_gate(client, link).status_code == 303
    too_many = start(client, [("a", b"1"), ("b", b"2"), ("c", b"3")])
    assert too_many.status_code == 413 and "at most 2" in too_many.json()["error"]
    too_big = start(client, [("a", b"x" * 6000), ("b", b"x" * 6000)])
    assert too_big.status_code == 413 and "at most" in too_big.json()["error"]
    started = start(client, [("a", b"x" * 3000)]).json()
    big_chunk = send_chunk(client, started["files"][0]["url"], b"x" * 1500, 0)
    assert big_chunk.status_code == 413
    past_size = start(client, [("a", b"x" * 10)]).json()
    assert send_chunk(client, past_size["files"][0]["url"], b"x" * 20, 0).status_code == 413
    assert not Study.objects.exists()


def test_starting_uploads_is_rate_limited(make_link, client, settings):
    settings.UPLOADLINK_RATE_LIMIT_UPLOADS_PER_IP = 2
    link = make_link()
    assert open_gate(client, link).status_code == 303
    statuses = [start(client, [("a", b"1")]).status_code for _ in range(3)]
    assert statuses == [201, 201, 429]


def test_an_upload_link_cannot_touch_a_study_it_did_not_create(make_link, worklist, owner):
    """Not one already in its own worklist, nor one elsewhere; only studies it created."""
    elsewhere = WorklistFactory(organisation=worklist.organisation, name="Elsewhere")
    here_files, there_files = series_files(1), series_files(1)
    study_ingest(actor=None, worklist=worklist, files=[(n, _io(d)) for n, d in here_files])
    study_ingest(actor=None, worklist=elsewhere, files=[(n, _io(d)) for n, d in there_files])
    here = Study.objects.get(entries__worklist=worklist)
    there = Study.objects.get(entries__worklist=elsewhere)
    link = make_link()
    sneaky = [
        ("new-in-here.dcm", dicom(here.study_instance_uid)),
        ("new-in-there.dcm", dicom(there.study_instance_uid)),
        ("same-as-here.dcm", here_files[0][1]),
    ]
    response = upload(link, sneaky)
    assert response.status_code == 200
    done = Upload.objects.get()
    assert done.imported == 0 and done.rejected_total == 3
    assert {reason for _, reason in done.rejected} == {NOT_HERE}
    assert here.series.count() == 1 and there.series.count() == 1
    assert not WorklistEntry.objects.filter(study=there, worklist=worklist).exists()
    # What the link created, its next upload may add to.
    first = series_files(1)
    assert upload(link, first).status_code == 200
    created = Study.objects.exclude(pk__in=[here.pk, there.pk]).get()
    assert upload(link, [("more.dcm", dicom(created.study_instance_uid))]).status_code == 200
    created.refresh_from_db()
    assert created.number_of_instances == 2 and created.number_of_series == 2
    # Another link into the same worklist may not.
    other = make_link()
    upload(other, [("more.dcm", dicom(created.study_instance_uid))])
    assert Upload.objects.filter(link=other).get().rejected == [["more.dcm", NOT_HERE]]


def _io(data):
    import io

    return io.BytesIO(data)


def test_an_upload_ends_when_its_link_is_deleted(make_link, owner, client):
    link = make_link()
    assert open_gate(client, link).status_code == 303
    files = series_files(1)
    started = start(client, files).json()
    services.uploadlink_delete(actor=owner, link=UploadLink.objects.get(pk=link.pk))
    assert client.get(reverse("uploadlinks:upload")).status_code == 404
    chunk = send_chunk(client, started["files"][0]["url"], files[0][1], 0)
    assert chunk.status_code == 404
    assert finish(client, started).status_code in (404, 409, 410)
    assert not Study.objects.exists()


def test_uploads_of_another_browser_are_not_reachable(make_link, client):
    link = make_link()
    assert open_gate(client, link).status_code == 303
    files = series_files(1)
    started = start(client, files).json()
    stranger = Client()
    assert open_gate(stranger, link).status_code == 303  # even through the same link
    assert send_chunk(stranger, started["files"][0]["url"], files[0][1], 0).status_code == 404
    assert finish(stranger, started).status_code == 404
    assert stranger.get(reverse("uploadlinks:summary", args=[started["upload"]])).status_code == 404


def test_the_uploader_must_give_a_name(make_link, client):
    link = make_link()
    assert open_gate(client, link).status_code == 303
    files = series_files(1)
    started = start(client, files).json()
    send_files(client, started, files)
    response = finish(client, started, name="  ")
    assert response.status_code == 400 and "name" in response.json()["error"].lower()
    assert not Study.objects.exists()


def test_view_only_members_cannot_reach_upload_links(read_only, study, worklist):
    add_to_worklist(study, worklist)
    client = Client()
    client.force_login(read_only)
    assert client.get(reverse("uploadlinks:manage", args=[worklist.public_id])).status_code == 403
    listing = client.get(reverse("worklists:detail", args=[worklist.public_id])).content.decode()
    assert "Upload links" not in listing


def test_the_summary_stays_readable_in_the_same_browser(make_link):
    client = Client()
    link = make_link(max_uses=1)
    assert upload(link, series_files(2), client=client).status_code == 200
    done = Upload.objects.get()
    page = client.get(reverse("uploadlinks:summary", args=[done.public_id]))
    assert page.status_code == 200 and "Upload complete" in page.content.decode()
    assert page["Referrer-Policy"] == "no-referrer"
