"""STOW-RS: POST multipart/related to a worklist's root, stored through the ingest service."""

import pytest
from django.test import Client
from pydicom.uid import generate_uid

from accounts.services import api_token_create
from studies.models import Instance, WorklistEntry
from testkit.dicom_files import to_bytes
from tests.factories import WorklistFactory, grant

from .apidata import bearer, ct_files, store

pytestmark = pytest.mark.django_db

BOUNDARY = "cimar-test-boundary"
CONTENT_TYPE = f'multipart/related; type="application/dicom"; boundary={BOUNDARY}'


def body(*payloads: bytes, content_type: str = "application/dicom") -> bytes:
    out = b""
    for payload in payloads:
        out += f"--{BOUNDARY}\r\nContent-Type: {content_type}\r\n\r\n".encode() + payload + b"\r\n"
    return out + f"--{BOUNDARY}--\r\n".encode()


def files(count: int = 2) -> list[bytes]:
    return [to_bytes(ds) for ds in ct_files(str(generate_uid()), [str(generate_uid())], count)]


def url(worklist) -> str:  # type: ignore[no-untyped-def]
    return f"/dicomweb/worklists/{worklist.share_code}/studies"


def post(client, worklist, data: bytes, **extra):  # type: ignore[no-untyped-def]
    return client.post(url(worklist), data=data, content_type=CONTENT_TYPE, **extra)


def test_member_stores_and_gets_the_standard_answer(login, member, worklist):
    good = files(2)
    response = post(login(member), worklist, body(*good))
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/dicom+json"
    referenced = response.json()["00081199"]["Value"]
    assert len(referenced) == 2 and "00081198" not in response.json()
    assert Instance.objects.count() == 2
    entry = WorklistEntry.objects.get()
    assert entry.worklist == worklist and entry.source == WorklistEntry.Source.DICOMWEB
    # Idempotent: the same files again are "already there", still referenced.
    again = post(login(member), worklist, body(*good))
    assert again.status_code == 200 and Instance.objects.count() == 2


def test_some_failed_is_202_and_all_failed_409(login, member, worklist):
    client = login(member)
    mixed = post(client, worklist, body(files(1)[0], b"not dicom at all"))
    assert mixed.status_code == 202
    [failed] = mixed.json()["00081198"]["Value"]
    assert failed["00081197"]["Value"] == [0xC000]
    assert post(client, worklist, body(b"junk")).status_code == 409
    wrong_type = post(client, worklist, body(files(1)[0], content_type="image/jpeg"))
    assert wrong_type.status_code == 409


def test_an_oversized_part_is_refused_and_the_rest_still_stored(login, member, worklist, settings):
    small, large = files(1)[0], files(1)[0] + b"\0" * 20000
    settings.DICOM_MAX_FILE_SIZE = len(small) + 100
    response = post(login(member), worklist, body(large, small))
    assert response.status_code == 202
    assert Instance.objects.count() == 1


@pytest.mark.parametrize(
    "content_type, status",
    [
        ("application/dicom", 415),
        ('multipart/related; type="application/dicom+json"; boundary=x', 415),
        ('multipart/related; type="application/dicom"', 400),
    ],
)
def test_wrong_media_types(login, member, worklist, content_type, status):
    response = login(member).post(url(worklist), data=b"x", content_type=content_type)
    assert response.status_code == status


def test_truncated_body_is_400_and_stores_nothing(login, member, worklist):
    data = body(*files(1))
    response = post(login(member), worklist, data[: len(data) // 2])
    assert response.status_code == 400
    assert not Instance.objects.exists()


def test_permissions(client, login, read_only, outsider, member, worklist):
    data = body(*files(1))
    assert post(client, worklist, data).status_code == 401
    assert post(login(outsider), worklist, data).status_code == 404
    assert post(login(read_only), worklist, data).status_code == 403  # may view, not upload
    assert client.post("/dicomweb/studies", data=data, content_type=CONTENT_TYPE).status_code == 405
    assert not Instance.objects.exists()
    # A token needs no CSRF token; a browser session does.
    _, plaintext = api_token_create(user=member, name="bridge")
    strict = Client(enforce_csrf_checks=True)
    assert post(strict, worklist, data, **bearer(plaintext)).status_code == 200
    strict.force_login(member)
    assert post(strict, worklist, body(*files(1))).status_code == 403
    assert Instance.objects.count() == 1


def test_stow_cannot_reach_a_study_of_another_worklist(login, member, worklist):
    elsewhere = WorklistFactory(organisation=worklist.organisation)
    grant(member, elsewhere, "view_studies", "upload_studies")
    study_uid = str(generate_uid())
    store(elsewhere, ct_files(study_uid, [str(generate_uid())], 1))
    [intruder] = ct_files(study_uid, [str(generate_uid())], 1)
    response = post(login(member), worklist, body(to_bytes(intruder)))
    assert response.status_code == 409
    assert not WorklistEntry.objects.filter(worklist=worklist).exists()
