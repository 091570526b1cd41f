"""The study page costs the same however many guest links a study gathers."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from guestlinks.selectors import PANEL_LINKS
from guestlinks.services import guestlink_create

pytestmark = pytest.mark.django_db


def _page(client, study, worklist):  # type: ignore[no-untyped-def]
    url = reverse("studies:detail", args=[study.public_id])
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url, {"worklist": str(worklist.public_id), "panel": "guest-links"})
    assert response.status_code == 200
    return len(captured), response


def test_the_panel_lists_the_newest_links_in_the_same_queries(login, owner, worklist, study):
    client = login(owner)
    for _ in range(3):
        guestlink_create(actor=owner, study=study, worklist=worklist)
    few, response = _page(client, study, worklist)
    assert len(response.context["guestlinks_panel"]["links"]) == 3
    assert "newest links are listed" not in response.content.decode()

    made = [
        guestlink_create(actor=owner, study=study, worklist=worklist) for _ in range(PANEL_LINKS)
    ]
    many, response = _page(client, study, worklist)
    assert many == few
    links = response.context["guestlinks_panel"]["links"]
    assert len(links) == PANEL_LINKS
    assert links[0].pk == made[-1].pk  # newest first
    assert f"The {PANEL_LINKS} newest links are listed" in response.content.decode()
