"""A guest's study download when the DICOM files are in S3-compatible object storage (moto's
server on loopback; on the PostgreSQL + Redis leg, as tests/dicomweb/test_object_storage.py):
read through the storage API by byte ranges, and byte-equal to the objects in the bucket."""

import io
import zipfile
from pathlib import Path

import pydicom
import pytest
from django.urls import reverse
from pydicom.fileset import FileSet
from pydicom.uid import CTImageStorage

from dicomweb import objectfiles
from studies.models import Instance
from tests.dicomweb.test_object_storage import BUCKET, keys, moto_endpoint, s3  # noqa: F401
from tests.factories import ct_series
from tests.guestlinks.conftest import open_link

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


def test_the_zip_of_a_study_in_the_bucket(s3, client, make_link, study, settings, tmp_path):  # noqa: F811
    series = ct_series(study, slices=4, size=128)
    Instance.objects.filter(series=series).update(sop_class_uid=CTImageStorage)
    instances = list(Instance.objects.filter(series=series))
    assert all(instance.file.name in keys(s3) for instance in instances)
    assert not any((Path(settings.MEDIA_ROOT) / i.file.name).exists() for i in instances)

    link = make_link(allow_download=True)
    assert open_link(client, link).status_code == 303
    ranged = []
    original = objectfiles.RangedObject.readinto

    def counting(self, buffer):  # type: ignore[no-untyped-def]
        ranged.append(self.name)
        return original(self, buffer)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(objectfiles.RangedObject, "readinto", counting)
        response = client.post(
            reverse("guestlinks:download_study"), {"study": study.study_instance_uid}
        )
        assert response.status_code == 200
        archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    assert {name for name in ranged} == {i.file.name for i in instances}  # by ranges, each
    archive.extractall(tmp_path)
    fileset = FileSet(pydicom.dcmread(tmp_path / "DICOMDIR"))
    by_uid = {i.sop_instance_uid: i for i in instances}
    assert {record.SOPInstanceUID for record in fileset} == set(by_uid)
    for record in fileset:
        body = s3.get_object(Bucket=BUCKET, Key=by_uid[record.SOPInstanceUID].file.name)["Body"]
        assert (tmp_path / record.FileID).read_bytes() == body.read()
