"""A study page shows its own access history (who opened it, its images, shares, guest opens
with address and browser) to those who may view its guest links in that worklist; bounded,
with the rest a page at a time; never another organisation's events on the same study."""

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from audit.services import record_event
from guestlinks import services as guestlinks
from studies.selectors import ACCESS_HISTORY_PAGE, ACCESS_HISTORY_PANEL
from tests.factories import (
    OrganisationFactory,
    UserFactory,
    WorklistFactory,
    add_to_worklist,
    grant,
)

pytestmark = pytest.mark.django_db

BROWSER = "Mozilla/5.0 (Linux; Android 14; Pixel 8) Chrome/120.0 Mobile Safari/537.36"


def study_page(client, study, worklist):
    return client.get(
        reverse("studies:detail", args=[study.public_id]), {"worklist": worklist.public_id}
    )


def history_page(client, study, worklist, **params):
    return client.get(
        reverse("studies:access_history", args=[study.public_id]),
        {"worklist": worklist.public_id, **params},
    )


@pytest.fixture
def guest_open(client, owner, study, worklist):
    """A guest opened a link of this worklist, from a phone."""
    link = guestlinks.guestlink_create(actor=owner, study=study, worklist=worklist)
    client.post(link.get_absolute_url(), REMOTE_ADDR="203.0.113.77", HTTP_USER_AGENT=BROWSER)
    client.logout()
    return link


def test_who_may_view_guest_links_sees_the_history(
    client, login, owner, study, worklist, guest_open
):
    response = study_page(login(owner), study, worklist)
    assert response.status_code == 200
    body = response.content.decode()
    assert "data-access-history" in body and "Access history" in body
    assert "Guest link opened" in body and "203.0.113.77" in body and "Pixel 8" in body
    assert "Guest link created" in body and "Study opened" in body
    history = response.context["access_history"]
    assert history[0].action == AuditEvent.Action.STUDY_OPENED  # newest first: this visit


@pytest.mark.parametrize(
    "permissions",
    [("view_studies",), ("view_studies", "create_guest_links", "share_study")],
    ids=["read-only", "may-create-links-but-not-view-them"],
)
def test_without_view_guest_links_there_is_no_history(
    login, study, worklist, organisation, guest_open, permissions
):
    user = UserFactory(organisation=organisation)
    grant(user, worklist, *permissions)
    client = login(user)
    response = study_page(client, study, worklist)
    assert response.status_code == 200
    assert response.context["access_history"] is None
    assert "data-access-history" not in response.content.decode()
    assert history_page(client, study, worklist).status_code == 403


def test_the_full_page_for_outsiders_and_anonymous(client, login, outsider, study, worklist):
    assert history_page(login(outsider), study, worklist).status_code == 404
    client.logout()
    response = history_page(client, study, worklist)
    assert response.status_code == 302 and reverse("accounts:login") in response["Location"]
    assert client.post(reverse("studies:access_history", args=[study.public_id])).status_code == 405


def test_another_organisations_events_on_the_same_study_are_not_shown(
    login, owner, study, worklist, guest_open
):
    partner = OrganisationFactory(name="Partner Hospital")
    inbox = WorklistFactory(organisation=partner, kind="organisation", name="Partner inbox")
    add_to_worklist(study, inbox)
    reader = UserFactory(username="partner-reader", organisation=partner)
    grant(reader, inbox)  # every permission there, view guest links included
    their_link = guestlinks.guestlink_create(actor=reader, study=study, worklist=inbox)
    record_event(
        action=AuditEvent.Action.GUESTLINK_OPENED,
        guest_link_id=their_link.public_id,
        study_instance_uid=study.study_instance_uid,
    )
    assert study_page(login(reader), study, inbox).status_code == 200  # they open it

    ours = study_page(login(owner), study, worklist).context["access_history"]
    assert all(event.actor_id in (None, owner.pk) for event in ours)
    assert their_link.public_id not in {event.guest_link_id for event in ours}
    assert guest_open.public_id in {event.guest_link_id for event in ours}

    theirs = study_page(login(reader), study, inbox).context["access_history"]
    assert {event.actor_id for event in theirs} == {reader.pk, None}
    assert guest_open.public_id not in {event.guest_link_id for event in theirs}


def test_the_panel_is_bounded_and_the_rest_is_paged(login, owner, study, worklist):
    for _ in range(ACCESS_HISTORY_PAGE + 5):
        record_event(
            action=AuditEvent.Action.IMAGES_VIEWED,
            actor=owner,
            study_instance_uid=study.study_instance_uid,
        )
    client = login(owner)
    response = study_page(client, study, worklist)
    assert len(response.context["access_history"]) == ACCESS_HISTORY_PANEL
    more = reverse("studies:access_history", args=[study.public_id])
    assert f'href="{more}?worklist={worklist.public_id}"' in response.content.decode()

    first = history_page(client, study, worklist)
    assert first.status_code == 200
    assert len(first.context["page"].object_list) == ACCESS_HISTORY_PAGE
    second = history_page(client, study, worklist, page=2)
    assert len(second.context["page"].object_list) == 6  # 55 views and this visit's "opened"
    assert history_page(client, study, worklist, page="junk").status_code == 200


def test_the_panel_costs_a_fixed_number_of_queries(
    login, owner, study, worklist, django_assert_max_num_queries
):
    client = login(owner)
    study_page(client, study, worklist)
    with django_assert_max_num_queries(60) as few:
        study_page(client, study, worklist)
    for _ in range(20):
        record_event(
            action=AuditEvent.Action.STUDY_OPENED,
            actor=UserFactory(organisation=worklist.organisation),
            study_instance_uid=study.study_instance_uid,
        )
    with django_assert_max_num_queries(len(few.captured_queries)):
        study_page(client, study, worklist)
