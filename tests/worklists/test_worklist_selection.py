"""The worklist page's selection: one form, a checkbox per study, and a button for each action
registered by the apps above (studies.registry) that the user may take on this worklist."""

import re

import pytest
from django.core.cache import cache
from django.urls import reverse

from studies import registry
from studies.registry import WorklistAction, register_worklist_action, worklist_actions
from tests.factories import UserFactory, grant
from tests.worklists.test_worklist_scale import WORKLIST_PAGE_QUERIES, _page_queries, _studies

pytestmark = pytest.mark.django_db

GUESTLINK_BUTTON = re.compile(
    r'<button type="submit" form="worklist-selection" formaction="(?P<url>[^"]+)" '
    r'data-worklist-action="guestlink">'
    r"Create guest link</button>"
)


@pytest.fixture
def extra_action():
    """A second action, registered the way an app's ready() does, and taken out again."""
    saved = dict(registry._worklist_actions)
    action = WorklistAction(
        name="test_upload_action",
        label="Do the test thing",
        url_name="guestlinks:create_multi",  # any view taking a worklist_id
        permission="upload_studies",
    )
    register_worklist_action(action)
    yield action
    registry._worklist_actions.clear()
    registry._worklist_actions.update(saved)


def page(client, user, worklist):  # type: ignore[no-untyped-def]
    client.force_login(user)
    return client.get(reverse("worklists:detail", args=[worklist.public_id])).content.decode()


def user_with(worklist, *codenames):  # type: ignore[no-untyped-def]
    user = UserFactory(organisation=worklist.organisation)
    grant(user, worklist, "view_studies", *codenames)
    return user


def test_guest_links_register_their_action():
    names = [action.name for action in registry._worklist_actions.values()]
    assert "guestlink" in names
    action = registry._worklist_actions["guestlink"]
    assert action.label == "Create guest link" and action.permission == "create_guest_links"
    assert action.url_name == "guestlinks:create_multi"


def test_actions_follow_the_permissions_held_on_the_worklist(worklist, owner, read_only):
    assert "guestlink" in [
        action.name for action in worklist_actions(user=owner, worklist=worklist)
    ]
    assert worklist_actions(user=read_only, worklist=worklist) == []
    creator = user_with(worklist, "create_guest_links")
    assert [a.name for a in worklist_actions(user=creator, worklist=worklist)] == ["guestlink"]


def test_the_owner_gets_the_form_checkboxes_and_the_button(client, owner, worklist, study):
    body = page(client, owner, worklist)
    assert '<form method="get" id="worklist-selection"' in body
    assert (
        f'<input type="checkbox" name="study" value="{study.public_id}" aria-label="Select ' in body
    )
    button = GUESTLINK_BUTTON.search(body)
    assert button is not None
    assert button["url"] == reverse(
        "guestlinks:create_multi", kwargs={"worklist_id": worklist.public_id}
    )
    assert "js/worklist_selection.js" in body
    # The checkboxes are inside the form; the buttons, beside the count, name it.
    form = body[
        body.index('id="worklist-selection"') : body.index(
            "</form>", body.index('id="worklist-selection"')
        )
    ]
    assert f'value="{study.public_id}"' in form


def test_sharing_without_guest_links_gets_checkboxes_but_no_button(client, member, worklist, study):
    body = page(client, member, worklist)
    assert 'id="worklist-selection"' in body and f'value="{study.public_id}"' in body
    assert GUESTLINK_BUTTON.search(body) is None and "worklist_selection.js" not in body
    assert 'form="worklist-selection">Share selected' in body


def test_guest_links_without_sharing_get_the_button_but_no_share(client, worklist, study):
    creator = user_with(worklist, "create_guest_links")
    body = page(client, creator, worklist)
    assert GUESTLINK_BUTTON.search(body) is not None and f'value="{study.public_id}"' in body
    assert "Share selected" not in body and "data-share-selection" not in body


def test_read_only_gets_no_selection(client, read_only, worklist, study):
    body = page(client, read_only, worklist)
    assert "worklist-selection" not in body and 'type="checkbox" name="study"' not in body
    assert "Create guest link" not in body


def test_registered_actions_show_in_order_for_their_permission(
    client, owner, worklist, study, extra_action
):
    body = page(client, owner, worklist)
    assert body.index("Create guest link") < body.index("Do the test thing")
    creator = user_with(worklist, "create_guest_links")
    assert "Do the test thing" not in page(client, creator, worklist)
    uploader = user_with(worklist, "upload_studies")
    body = page(client, uploader, worklist)
    assert "Do the test thing" in body and "Create guest link" not in body
    url = reverse("guestlinks:create_multi", kwargs={"worklist_id": worklist.public_id})
    assert (
        f'form="worklist-selection" formaction="{url}" data-worklist-action="test_upload_action"'
        in body
    )


def test_the_actions_cost_no_query(client, owner, worklist):
    """The actions ask the permissions the page already holds: WORKLIST_PAGE_QUERIES stands for
    a user with every permission too."""
    cache.clear()
    _studies(worklist, 5)
    client.force_login(owner)
    base = reverse("worklists:detail", args=[worklist.public_id])
    _page_queries(client, base)  # the counts are cached from here on
    count, response = _page_queries(client, base)
    assert "Create guest link" in response.content.decode()
    assert count == WORKLIST_PAGE_QUERIES
