import pytest
from django.urls import reverse

from tests.factories import OrganisationFactory, UserFactory, WorklistFactory, grant


@pytest.fixture
def cardiology(organisation):
    """Another location of the sharer's organisation, with a member who may view it."""
    worklist = WorklistFactory(organisation=organisation, kind="location", name="Cardiology")
    viewer = UserFactory(username="cardio", organisation=organisation, email="cardio@example.org")
    grant(viewer, worklist, "view_studies")
    return worklist


@pytest.fixture
def chest_group(organisation):
    return WorklistFactory(organisation=organisation, kind="group", name="Chest MDT")


@pytest.fixture
def colleague(organisation):
    return UserFactory(
        username="colleague",
        organisation=organisation,
        first_name="Ada",
        last_name="Lovelace",
        email="ada@example.org",
    )


@pytest.fixture
def partner():
    """Another organisation with its inbox worklist and one member who may view it."""
    organisation = OrganisationFactory(name="Partner Hospital")
    inbox = WorklistFactory(organisation=organisation, kind="organisation", name="Partner inbox")
    reader = UserFactory(
        username="partner-reader", organisation=organisation, email="reader@partner.example"
    )
    grant(reader, inbox, "view_studies")
    return organisation


def open_invitation(client, path):
    """Follow an emailed invitation link as a browser does: the link keeps the invitation in the
    session and redirects to the page without the token, whose path is returned."""
    response = client.get(path)
    assert response.status_code == 302, response
    assert response["Referrer-Policy"] == "no-referrer"  # the link's own URL holds the token
    page = reverse("sharing:invitation_page")
    assert response["Location"] == page
    return page
