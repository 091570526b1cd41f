"""An upload while the broker is down: the study is stored and the answer is the report, not a
500; pre-rendering is best effort (each frame renders on its first view instead)."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from notifications import queueing
from studies.models import Instance, Study
from tests.notifications.brokers import broker_at, free_port
from tests.studies.ingest_helpers import small_study

# Committed for real, so that the on-commit hand-off to the broker runs inside the request.
pytestmark = pytest.mark.django_db(transaction=True)


def test_upload_succeeds_while_the_broker_is_down(settings, tmp_path, login, member, worklist):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    files = small_study(tmp_path / "in", series_count=1)
    uploads = [SimpleUploadedFile(p.name, p.read_bytes(), "application/dicom") for p in files]
    with broker_at(f"redis://127.0.0.1:{free_port()}/0"):  # nothing listens there
        response = login(member).post(
            reverse("studies:upload", args=[worklist.public_id]), {"dicom_files": uploads}
        )
        assert queueing.wait_until_handed_off()
    assert response.status_code == 200
    assert "Upload report" in response.content.decode()
    study = Study.objects.get()
    assert Instance.objects.filter(series__study=study).count() == 3
    # Nothing was pre-rendered; the first view renders the frame (and caches it).
    instance = Instance.objects.filter(series__study=study).select_related("series").first()
    frame = reverse(
        "dicomweb:frame_rendered",
        kwargs={
            "study": study.study_instance_uid,
            "series": instance.series.series_instance_uid,
            "instance": instance.sop_instance_uid,
            "frame": 1,
        },
    )
    response = login(member).get(frame, HTTP_ACCEPT="image/*")
    assert response.status_code == 200 and response["Content-Type"].startswith("image/")
