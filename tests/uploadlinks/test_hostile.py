"""Hostile uploads through a link, under a memory limit: an archive bomb, names that climb out
of the archive or the staging folder."""

import io
import zipfile

import pytest
from django.test import Client

from studies.models import Instance
from tests.bounded import MiB, bounded
from tests.uploadlinks.conftest import open_gate, send_files, series_files, start, upload
from uploadlinks import services
from uploadlinks.models import Upload

pytestmark = pytest.mark.django_db


def test_an_archive_bomb_is_refused_without_unpacking_it_into_memory(make_link):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("bomb.dcm", bytes(512 * MiB))  # 512 MiB of zeros, ~0.5 MB packed
        for name, data in series_files(1, folder="ok"):
            archive.writestr(name, data)
    bomb = buffer.getvalue()
    assert len(bomb) < 2 * MiB
    link = make_link()

    def attempt():
        response = upload(link, [("cd.zip", bomb)], chunk=256 * 1024)
        done = Upload.objects.get()
        return response.status_code, done.imported, done.rejected

    status, imported, rejected = bounded(attempt, headroom=256 * MiB, timeout=120).value
    assert status == 200 and imported == 1
    assert rejected == [
        ["cd.zip/bomb.dcm", "The file unpacks to more than 200 times its packed size, the limit."]
    ]


@pytest.mark.parametrize("name", ["../../../outside.dcm", "/etc/outside.dcm", "C:\\outside.dcm"])
def test_a_path_climbing_out_of_a_zip_is_refused_and_nothing_lands_there(
    make_link, tmp_path, name, settings
):
    [(_, data)] = series_files(1)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(name, data)
    link = make_link()

    def attempt():
        response = upload(link, [("evil.zip", buffer.getvalue())])
        return response.status_code, Upload.objects.get().rejected, Instance.objects.count()

    status, rejected, instances = bounded(attempt, headroom=256 * MiB, timeout=60).value
    assert status == 200 and instances == 0
    assert rejected == [[f"evil.zip/{name}", "The archive names this file with an unsafe path."]]
    assert not any(tmp_path.rglob("outside.dcm"))


def test_names_from_the_browser_never_become_paths_on_the_server(make_link, tmp_path):
    client = Client()
    link = make_link()
    assert open_gate(client, link).status_code == 303
    [(_, data)] = series_files(1)
    files = [("../../../../escape.dcm", data), ("/etc/passwd", b"not dicom")]
    started = start(client, files).json()
    send_files(client, started, files)
    staged = services.staging.upload_dir(started["upload"])
    assert sorted(path.name for path in staged.iterdir()) == ["0", "1"]
    assert not any(tmp_path.rglob("escape.dcm"))
