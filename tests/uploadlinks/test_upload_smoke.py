import pytest

from studies.models import Study, WorklistEntry
from tests.uploadlinks.conftest import series_files, upload

pytestmark = pytest.mark.django_db


def test_smoke(make_link, worklist):
    link = make_link(max_uses=2, label="Dr Who")
    files = series_files(3)
    response = upload(link, files + [("CD/readme.txt", b"hello")], chunk=1000)
    assert response.status_code == 200, response.content
    text = response.content.decode()
    assert "Upload complete" in text and "readme.txt" in text
    study = Study.objects.get()
    entry = WorklistEntry.objects.get(study=study, worklist=worklist)
    assert entry.note == "Uploaded by Pat Uploader through upload link Dr Who"
    link.refresh_from_db()
    assert link.use_count == 1
