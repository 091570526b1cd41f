"""Stored DICOM files and rendered frames are never served directly; error pages explain."""

import importlib

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.urls import clear_url_caches, reverse

from tests.factories import UserFactory, grant

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("name", ["dicom/ab/0123456789abcdef.dcm", "render-cache/ab/abcdef0123"])
def test_media_files_are_not_reachable_by_url(client, settings, name):
    # Load the URLs as the development server does (DEBUG on), where media used to be served.
    settings.DEBUG = True
    import cimar_share.urls

    importlib.reload(cimar_share.urls)
    clear_url_caches()
    default_storage.save(name, ContentFile(b"DICM patient data"))
    for path in (f"/{name}", f"/media/{name}"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert b"patient data" not in response.content


def test_403_page_says_why_and_offers_a_way_back(client, worklist):
    viewer = UserFactory(organisation=worklist.organisation)
    grant(viewer, worklist, "view_studies")
    client.force_login(viewer)
    response = client.get(reverse("studies:upload", args=[worklist.public_id]))
    assert response.status_code == 403
    body = response.content.decode()
    assert "does not allow" in body
    assert reverse("worklists:home") in body
