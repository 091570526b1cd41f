"""The upload page: permissions, plain and script uploads, zips, the report, limits."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from studies.models import Instance, Study, WorklistEntry
from tests.factories import UserFactory, grant
from tests.studies.ingest_helpers import small_study, stored_files, zip_bytes

pytestmark = pytest.mark.django_db


def url(worklist):
    return reverse("studies:upload", args=[worklist.public_id])


def uploads(paths):
    return [SimpleUploadedFile(p.name, p.read_bytes(), "application/dicom") for p in paths]


@pytest.fixture
def files(tmp_path):
    return small_study(tmp_path / "in", series_count=1)


def test_outsider_gets_404(login, outsider, worklist):
    assert login(outsider).get(url(worklist)).status_code == 404
    assert login(outsider).post(url(worklist)).status_code == 404


def test_member_without_upload_permission_gets_403(login, read_only, worklist, files):
    client = login(read_only)
    assert client.get(url(worklist)).status_code == 403
    assert client.post(url(worklist), {"dicom_files": uploads(files)}).status_code == 403
    assert not Instance.objects.exists()


def test_wrong_method_is_405(login, member, worklist):
    assert login(member).put(url(worklist)).status_code == 405


def test_anonymous_is_sent_to_log_in(client, worklist):
    response = client.get(url(worklist))
    assert response.status_code == 302 and reverse("accounts:login") in response["Location"]


def test_form_page(login, member, worklist):
    response = login(member).get(url(worklist))
    body = response.content.decode()
    assert response.status_code == 200
    assert 'enctype="multipart/form-data"' in body and "csrfmiddlewaretoken" in body
    assert 'name="dicom_files"' in body and "multiple" in body and "webkitdirectory" in body
    assert "<progress" in body and "js/upload.js" in body


def test_worklist_page_shows_the_upload_button_only_with_the_permission(
    login, member, read_only, worklist
):
    worklist_url = reverse("worklists:detail", args=[worklist.public_id])
    assert url(worklist) in login(member).get(worklist_url).content.decode()
    assert url(worklist) not in login(read_only).get(worklist_url).content.decode()


def test_upload_files_shows_the_report(login, member, worklist, files, settings):
    response = login(member).post(
        url(worklist),
        {"dicom_files": [*uploads(files), SimpleUploadedFile("notes.txt", b"hello " * 100)]},
    )
    body = response.content.decode()
    assert response.status_code == 200
    study = Study.objects.get()
    assert study.number_of_instances == 3
    entry = WorklistEntry.objects.get()
    assert (entry.worklist, entry.added_by, entry.source) == (worklist, member, "upload")
    assert "Upload report" in body
    assert '<span class="badge ok">3</span> imported' in body
    assert "notes.txt" in body and "This is not a DICOM file." in body
    assert reverse("studies:detail", args=[study.public_id]) in body
    assert len(stored_files(settings.MEDIA_ROOT)) == 3


def test_upload_zip_and_folder_together_and_again(login, member, worklist, tmp_path, files):
    archive = SimpleUploadedFile(
        "cd.zip", zip_bytes({f"DICOM/{p.name}": p.read_bytes() for p in files[:2]})
    )
    client = login(member)
    response = client.post(url(worklist), {"dicom_files": [archive], "folder": uploads(files[2:])})
    assert response.status_code == 200
    assert Instance.objects.count() == 3

    again = client.post(url(worklist), {"dicom_files": uploads(files)})
    assert '<span class="badge">3</span> already present' in again.content.decode()
    assert Instance.objects.count() == 3


def test_script_upload_gets_only_the_report(login, member, worklist, files):
    response = login(member).post(
        url(worklist),
        {"dicom_files": uploads(files)},
        headers={"X-Requested-With": "XMLHttpRequest"},
    )
    body = response.content.decode()
    assert response.status_code == 200 and response["X-Upload-Result"] == "1"
    assert "Upload report" in body and "<html" not in body


def test_nothing_chosen_is_a_clear_400(login, member, worklist):
    message = "Choose at least one file, zip archive or folder."
    response = login(member).post(url(worklist), {})
    assert response.status_code == 400
    assert response.content.decode().count(message) == 1
    script = login(member).post(url(worklist), {}, headers={"X-Requested-With": "XMLHttpRequest"})
    assert script.status_code == 400 and message in script.content.decode()


def test_too_many_files_is_a_clear_413(login, member, worklist, files, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FILES = 2
    response = login(member).post(url(worklist), {"dicom_files": uploads(files)})
    assert response.status_code == 413
    assert "more files than one upload may hold (2)" in response.content.decode()
    assert not Instance.objects.exists()


def test_csrf_is_still_enforced(member, worklist, files):
    client = Client(enforce_csrf_checks=True)
    client.force_login(member)
    assert client.post(url(worklist), {"dicom_files": uploads(files)}).status_code == 403
    assert not Instance.objects.exists()


def test_uploads_stream_to_disk(login, member, worklist, files, monkeypatch):
    """Every uploaded file is a temporary file on disk, however small."""
    from studies import views

    seen = []
    original = views.study_ingest

    def spy(**kwargs):
        files = list(kwargs.pop("files"))
        seen.extend(type(f).__name__ for _, f in files)
        return original(files=files, **kwargs)

    monkeypatch.setattr(views, "study_ingest", spy)
    login(member).post(url(worklist), {"dicom_files": uploads(files)})
    assert seen == ["TemporaryUploadedFile"] * 3


def test_upload_needs_the_permission_on_this_worklist_not_another(login, worklist, files):
    from tests.factories import WorklistFactory

    user = UserFactory(organisation=worklist.organisation)
    grant(user, worklist, "view_studies")
    grant(
        user, WorklistFactory(organisation=worklist.organisation), "view_studies", "upload_studies"
    )
    assert login(user).post(url(worklist), {"dicom_files": uploads(files)}).status_code == 403
