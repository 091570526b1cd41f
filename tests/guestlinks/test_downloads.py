"""A guest's downloads: the study as a zip with a DICOMDIR (members byte-equal to the stored
files, the DICOMDIR read back by pydicom and naming every instance), the image on screen as a
PNG; audited and in the access log; 404 for links without the option, for studies not in the
link and without a guest session."""

import io
import zipfile
from pathlib import Path

import numpy as np
import pydicom
import pytest
from django.urls import reverse
from PIL import Image
from pydicom.fileset import FileSet
from pydicom.uid import CTImageStorage

from audit.models import AuditEvent
from guestlinks import downloads
from guestlinks.models import GuestLinkAccess
from studies.models import Instance
from testkit.dicom_files import dataset, phantom
from tests.factories import SeriesFactory, StudyFactory, add_to_worklist, ct_series, instance_for
from tests.guestlinks.conftest import open_link, viewer_url

pytestmark = pytest.mark.django_db

STUDY_URL = reverse("guestlinks:download_study")
IMAGE_URL = reverse("guestlinks:download_image")


@pytest.fixture
def images(study):
    """Two series: a CT of 3 slices (SOP class known to the database) and one instance whose
    row lacks its SOP class (its DICOMDIR record comes from the file's header)."""
    study.patient_id, study.study_id = "P-17", ""
    study.save()
    ct = ct_series(study, slices=3, number=1)
    Instance.objects.filter(series=ct).update(sop_class_uid=CTImageStorage)
    other = SeriesFactory(study=study, modality="CT", series_number=2)
    instance_for(dataset(phantom(32, 32), InstanceNumber=7), series=other, instance_number=7)
    return list(Instance.objects.filter(series__study=study))


def guest(client, make_link, **options):
    link = make_link(**options)
    assert open_link(client, link).status_code == 303
    return link


def zip_of(response):
    return zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))


def test_the_zip_holds_every_file_byte_for_byte_under_a_dicomdir(
    client, make_link, study, images, tmp_path
):
    link = guest(client, make_link, allow_download=True)
    response = client.post(STUDY_URL, {"study": study.study_instance_uid})
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"].startswith('attachment; filename="study')
    assert "no-store" in response["Cache-Control"]
    archive = zip_of(response)
    assert archive.testzip() is None
    names = archive.namelist()
    assert names[0] == "DICOMDIR" and len(names) == len(images) + 1
    for info in archive.infolist():
        assert info.compress_type == zipfile.ZIP_STORED
    archive.extractall(tmp_path)

    fileset = FileSet(pydicom.dcmread(tmp_path / "DICOMDIR"))
    referenced = {record.SOPInstanceUID: record for record in fileset}
    stored = {instance.sop_instance_uid: instance for instance in images}
    assert set(referenced) == set(stored)
    for uid, record in referenced.items():
        parts = Path(record.FileID).parts
        assert all(len(part) <= 8 and part == part.upper() for part in parts)
        with stored[uid].file.open("rb") as original:
            assert (tmp_path / record.FileID).read_bytes() == original.read()
        assert record.load().SOPInstanceUID == uid  # the file the record names is that one
    patient = fileset.find(PatientID="P-17")
    assert len(patient) == len(images)

    (row,) = GuestLinkAccess.objects.filter(outcome="downloaded")
    assert row.link == link
    event = AuditEvent.objects.get(action=AuditEvent.Action.GUESTLINK_DOWNLOADED)
    assert event.guest_link_id == link.public_id and event.outcome == "success"
    assert event.details["what"] == "study" and event.details["files"] == len(images)


def test_the_zip_is_written_as_it_is_read(client, make_link, study, images, monkeypatch):
    """No file is read for the zip before the response is consumed (only the header of the
    instance the database cannot describe, for its DICOMDIR record), and it comes in chunks."""
    opened = []
    real = downloads.open_instance
    monkeypatch.setattr(downloads, "open_instance", lambda i: opened.append(i) or real(i))
    guest(client, make_link, allow_download=True)
    response = client.post(STUDY_URL, {"study": study.study_instance_uid})
    headers_read = len(opened)
    assert headers_read == 1
    chunks = iter(response.streaming_content)
    next(chunks)  # the DICOMDIR
    assert len(opened) == headers_read
    rest = list(chunks)
    assert len(rest) > len(images) and len(opened) == headers_read + len(images)


def test_the_image_on_screen_as_png(client, make_link, study, images):
    link = guest(client, make_link, allow_download=True)
    instance = images[0]
    response = client.post(
        IMAGE_URL,
        {
            "study": study.study_instance_uid,
            "series": instance.series.series_instance_uid,
            "instance": instance.sop_instance_uid,
            "frame": "1",
            "window": "40,400",
        },
    )
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    assert response["Content-Disposition"].endswith('.png"')
    picture = Image.open(io.BytesIO(response.content))
    assert picture.size == (64, 64)
    assert np.asarray(picture).std() > 0
    row = GuestLinkAccess.objects.get(outcome="downloaded")
    assert row.link == link
    event = AuditEvent.objects.get(action=AuditEvent.Action.GUESTLINK_DOWNLOADED)
    assert event.details["what"] == "image"
    assert event.details["instance"] == instance.sop_instance_uid


def image_form(study, item, **changes):
    form = {
        "study": study.study_instance_uid,
        "series": item.series.series_instance_uid,
        "instance": item.sop_instance_uid,
        "frame": "1",
    }
    return {**form, **changes}


def test_bad_image_requests_get_a_clear_4xx(client, make_link, study, images):
    guest(client, make_link, allow_download=True)
    assert client.post(IMAGE_URL, image_form(study, images[0], frame="9")).status_code == 400
    assert client.post(IMAGE_URL, image_form(study, images[0], frame="x")).status_code == 400
    bad_window = client.post(IMAGE_URL, image_form(study, images[0], window="a,b"))
    assert bad_window.status_code == 400 and b"window" in bad_window.content
    assert client.post(IMAGE_URL, image_form(study, images[0], instance="1.2.3")).status_code == 404
    assert not GuestLinkAccess.objects.filter(outcome="downloaded").exists()


def test_refused_without_the_option(client, make_link, study, images):
    guest(client, make_link)
    assert client.post(STUDY_URL, {"study": study.study_instance_uid}).status_code == 404
    assert client.post(IMAGE_URL, image_form(study, images[0])).status_code == 404
    body = client.get(viewer_url(study)).content.decode()
    assert "viewer-downloads" not in body and "viewer_downloads.js" not in body
    assert not GuestLinkAccess.objects.filter(outcome="downloaded").exists()


def test_refused_for_a_study_not_in_the_link(client, make_link, worklist, images):
    other = StudyFactory()
    add_to_worklist(other, worklist)
    ct_series(other, slices=1)
    guest(client, make_link, allow_download=True)
    assert client.post(STUDY_URL, {"study": other.study_instance_uid}).status_code == 404
    instance = Instance.objects.get(series__study=other)
    assert client.post(IMAGE_URL, image_form(other, instance)).status_code == 404


def test_refused_without_a_guest_session(client, login, owner, study, images, make_link):
    make_link(allow_download=True)
    assert client.post(STUDY_URL, {"study": study.study_instance_uid}).status_code == 404
    login(owner)  # a clinician is no guest: they have their own ways to the files
    assert client.post(STUDY_URL, {"study": study.study_instance_uid}).status_code == 404


def test_get_is_not_allowed_and_csrf_is_checked(make_link, study, images):
    from django.test import Client

    browser = Client(enforce_csrf_checks=True)
    link = make_link(allow_download=True)
    page = browser.get(link.get_absolute_url())
    token = page.cookies["csrftoken"].value
    browser.post(link.get_absolute_url(), {"csrfmiddlewaretoken": token})
    assert browser.get(STUDY_URL).status_code == 405
    assert browser.post(STUDY_URL, {"study": study.study_instance_uid}).status_code == 403
    token = browser.cookies["csrftoken"].value
    ok = browser.post(STUDY_URL, {"study": study.study_instance_uid, "csrfmiddlewaretoken": token})
    assert ok.status_code == 200


def test_the_viewer_offers_the_menu_on_links_that_allow_it(client, make_link, study, images):
    guest(client, make_link, allow_download=True)
    body = client.get(viewer_url(study)).content.decode()
    assert 'popovertarget="viewer-downloads"' in body
    assert f'action="{STUDY_URL}"' in body and f'action="{IMAGE_URL}"' in body
    assert "js/viewer_downloads.js" in body and "<script>" not in body


def test_a_deleted_link_downloads_nothing(client, make_link, owner, study, images):
    from guestlinks.services import guestlink_delete

    link = guest(client, make_link, allow_download=True)
    guestlink_delete(actor=owner, link=link)
    assert client.post(STUDY_URL, {"study": study.study_instance_uid}).status_code == 404


def test_zip_stream_keeps_to_one_chunk_at_a_time():
    """A member larger than a chunk arrives in several pieces, none much larger than CHUNK."""
    big = bytes(range(256)) * (3 * downloads.CHUNK // 256)
    pieces = list(downloads.zip_stream([("BIG", len(big), lambda: io.BytesIO(big))]))
    assert max(len(piece) for piece in pieces) <= downloads.CHUNK + 1024
    archive = zipfile.ZipFile(io.BytesIO(b"".join(pieces)))
    assert archive.read("BIG") == big
