"""Text responses are gzipped for clients that accept it; images are left as they are."""

import gzip

import numpy as np
import pytest
from django.urls import reverse

from testkit.dicom_files import dataset, phantom
from tests.factories import SeriesFactory, instance_for

pytestmark = pytest.mark.django_db


def test_pages_are_gzipped_for_clients_that_accept_it(client):
    plain = client.get(reverse("accounts:login"))
    assert "Content-Encoding" not in plain
    packed = client.get(reverse("accounts:login"), HTTP_ACCEPT_ENCODING="gzip, br")
    assert packed["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in packed["Vary"]
    assert b"<form" in gzip.decompress(packed.content)
    assert len(packed.content) < len(plain.content)


def test_images_are_not_compressed_again(login, read_only, study):
    instance = instance_for(dataset(phantom(64, 64, 0, 1000)), series=SeriesFactory(study=study))
    series = instance.series
    url = reverse(
        "dicomweb:frame_rendered",
        kwargs={
            "study": series.study.study_instance_uid,
            "series": series.series_instance_uid,
            "instance": instance.sop_instance_uid,
            "frame": 1,
        },
    )
    response = login(read_only).get(url, HTTP_ACCEPT_ENCODING="gzip")
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    assert "Content-Encoding" not in response
    assert response["ETag"].startswith('"')  # strong: the bytes are the image's own
    assert np.frombuffer(response.content[:8], np.uint8).tobytes() == b"\x89PNG\r\n\x1a\n"
