"""Fixtures for upload links: a link maker, generated DICOM files, and an uploader that
drives the recipient's side through HTTP as the page's script does."""

import io
import json
import zipfile

import pytest
from django.test import Client
from django.urls import reverse
from pydicom.uid import generate_uid

from testkit.dicom_files import dataset, phantom, to_bytes
from uploadlinks import services

NAME = "Pat Uploader"


@pytest.fixture(autouse=True)
def _staging(settings, tmp_path):
    settings.UPLOADLINK_STAGING_DIR = tmp_path / "staging"
    settings.SMS_BACKEND = "notifications.sms_backends.OutboxBackend"
    settings.SMS_OUTBOX_DIR = tmp_path / "sms-outbox"


@pytest.fixture
def make_link(owner, worklist):
    def _make(**options):
        return services.uploadlink_create(actor=owner, worklist=worklist, **options)

    return _make


def dicom(study_uid=None, series_uid=None, *, description="CD import", patient="Doe^Jane"):
    """One small CT image as bytes, of the given (or a new) study and series."""
    ds = dataset(
        phantom(16, 16),
        StudyInstanceUID=study_uid or generate_uid(),
        SeriesInstanceUID=series_uid or generate_uid(),
        PatientName=patient,
        PatientID="PID-1",
        StudyDescription=description,
        StudyDate="20240102",
    )
    if study_uid:
        ds.StudyInstanceUID = study_uid
    if series_uid:
        ds.SeriesInstanceUID = series_uid
    return to_bytes(ds)


def series_files(count=3, *, study_uid=None, folder="CD"):
    """`count` images of one new series (one study), named as a folder on a CD."""
    study_uid = study_uid or generate_uid()
    series_uid = generate_uid()
    return [(f"{folder}/IMG{i:04d}", dicom(study_uid, series_uid)) for i in range(count)]


def zipped(files):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files:
            archive.writestr(name, data)
    return buffer.getvalue()


def open_gate(client, link, password=None):
    data = {} if password is None else {"password": password}
    return client.post(link.get_absolute_url(), data)


def start(client, files):
    return client.post(
        reverse("uploadlinks:start"),
        json.dumps({"files": [{"name": name, "size": len(data)} for name, data in files]}),
        content_type="application/json",
    )


def send_chunk(client, url, data, offset):
    return client.generic(
        "POST", f"{url}?offset={offset}", data, content_type="application/octet-stream"
    )


def send_files(client, started, files, chunk=None):
    for target, (_, data) in zip(started["files"], files, strict=True):
        size = chunk or max(len(data), 1)
        for offset in range(0, max(len(data), 1), size):
            response = send_chunk(client, target["url"], data[offset : offset + size], offset)
            assert response.status_code == 200, response.content


def finish(client, started, name=NAME, **details):
    return client.post(started["finish"], {"name": name, **details})


def upload(link, files, *, client=None, password=None, name=NAME, chunk=None, **details):
    """The whole journey of one upload; the finish response."""
    client = client or Client()
    response = open_gate(client, link, password)
    assert response.status_code == 303, response.status_code
    started = start(client, files)
    assert started.status_code == 201, started.content
    send_files(client, started.json(), files, chunk=chunk)
    return finish(client, started.json(), name=name, **details)
