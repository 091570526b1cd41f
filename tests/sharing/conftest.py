import pytest

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
