"""Accepting an email invitation: only the invited address may, and the partnership rule applies
at acceptance as at sharing (an invitation link is not a way around either)."""

import re

import pytest
from django.urls import resolve, reverse

from audit.models import AuditEvent
from sharing.invitations import read_token
from sharing.models import Invitation
from studies.models import WorklistEntry
from tests.factories import (
    OrganisationFactory,
    StudyFactory,
    UserFactory,
    WorklistFactory,
    add_to_worklist,
    grant,
    partnership,
)
from tests.sharing.conftest import open_invitation
from tests.sharing.test_invitations import invite, link_in_last_email

pytestmark = pytest.mark.django_db

INVITED = "jane.doe@northfield.example"


@pytest.fixture
def northfield(db):
    return OrganisationFactory(name="Northfield Clinic")


def accept(client, link):
    """Follow the emailed link as a browser does, then press the page's accept button."""
    return client.post(open_invitation(client, link))


def assert_nothing_accepted(user, study):
    assert not WorklistEntry.objects.filter(worklist__owner=user, study=study).exists()
    assert Invitation.objects.get(study=study).status == "pending"


def test_someone_else_signed_in_is_shown_who_it_is_for_and_cannot_accept(
    login, owner, worklist, study
):
    invite(owner, study, worklist, INVITED)
    url = link_in_last_email()
    # A signed-in user of another organisation, e.g. the link was forwarded to them.
    stranger = UserFactory(username="stranger", email="stranger@elsewhere.example")
    client = login(stranger)

    page = client.get(open_invitation(client, url))
    body = page.content.decode()
    assert page.status_code == 403
    assert "This invitation is for someone else" in body
    assert "This invitation was sent to j***@northfield.example" in body
    assert INVITED not in body and "jane.doe" not in body
    assert "Add it to my personal worklist" not in body
    # Log out, and the link opens again (logging out ends the session holding the invitation).
    reopen = re.search(r'name="next" value="([^"]+)"', body).group(1)
    assert read_token(resolve(reopen).kwargs["token"]) == Invitation.objects.get().public_id

    response = accept(client, url)
    assert response.status_code == 403
    assert "This invitation is for someone else" in response.content.decode()
    assert_nothing_accepted(stranger, study)
    denied = AuditEvent.objects.get(action="invitation_accepted")
    assert denied.outcome == "denied" and denied.actor == stranger
    assert denied.details["reason"] == "someone_else"


def test_a_user_without_an_email_address_cannot_accept(login, owner, worklist, study):
    invite(owner, study, worklist, INVITED)
    nobody = UserFactory(username="no-address", email="", organisation=None)
    response = accept(login(nobody), link_in_last_email())
    assert response.status_code == 403
    assert_nothing_accepted(nobody, study)


def test_the_invited_address_matches_whatever_its_case_and_spaces(login, owner, worklist, study):
    invite(owner, study, worklist, INVITED)
    jane = UserFactory(username="jane", email=" Jane.Doe@NorthField.example ", organisation=None)
    response = accept(login(jane), link_in_last_email())
    assert response.status_code == 302
    assert WorklistEntry.objects.filter(worklist__owner=jane, study=study).exists()


def test_an_account_of_an_organisation_without_partnership_cannot_accept(
    login, owner, worklist, study, northfield
):
    """The address got an account at Northfield after the invitation was sent: accepting would
    put the study into Northfield, which the sharer's organisation may not share with."""
    invite(owner, study, worklist, INVITED)
    jane = UserFactory(username="jane", email=INVITED, organisation=northfield)
    client = login(jane)
    url = link_in_last_email()

    page = client.get(open_invitation(client, url))
    body = page.content.decode()
    assert page.status_code == 403
    assert "This invitation cannot be accepted here" in body
    assert "St Elsewhere may not share studies with Northfield Clinic" in body

    assert accept(client, url).status_code == 403
    assert_nothing_accepted(jane, study)
    denied = AuditEvent.objects.get(action="invitation_accepted")
    assert denied.outcome == "denied" and denied.details["reason"] == "partnership"

    # Once an administrator allows it, the same link works.
    partnership(worklist.organisation, northfield)
    assert accept(client, url).status_code == 302
    assert WorklistEntry.objects.filter(worklist__owner=jane, study=study).exists()


def test_an_account_of_the_sharers_own_organisation_may_accept(
    login, owner, worklist, study, organisation
):
    invite(owner, study, worklist, INVITED)
    jane = UserFactory(username="jane", email=INVITED, organisation=organisation)
    assert accept(login(jane), link_in_last_email()).status_code == 302
    assert WorklistEntry.objects.filter(worklist__owner=jane, study=study).exists()


def test_an_account_of_an_inactive_organisation_cannot_accept(
    login, owner, worklist, study, northfield
):
    partnership(worklist.organisation, northfield)
    northfield.is_active = False
    northfield.save()
    invite(owner, study, worklist, INVITED)
    jane = UserFactory(username="jane", email=INVITED, organisation=northfield)
    response = accept(login(jane), link_in_last_email())
    assert response.status_code == 403 and "not active" in response.content.decode()
    assert_nothing_accepted(jane, study)


def test_invitations_from_a_deleted_sharer_are_open_only_outside_organisations(
    login, owner, worklist, study, northfield
):
    invite(owner, study, worklist, INVITED)
    url = link_in_last_email()
    Invitation.objects.update(invited_by=None)  # the sharer's account was deleted
    jane = UserFactory(username="jane", email=INVITED, organisation=northfield)
    client = login(jane)
    assert accept(client, url).status_code == 403
    assert_nothing_accepted(jane, study)
    jane.organisation = None
    jane.save()
    assert accept(client, url).status_code == 302


def test_other_pending_invitations_are_honoured_only_where_the_rule_allows(
    login, owner, worklist, study, northfield
):
    """Accepting one link honours every pending invitation to the address, each under the
    partnership rule of its own sharer."""
    partnered = UserFactory(username="partnered", organisation=OrganisationFactory(name="Ally"))
    partnership(partnered.organisation, northfield)
    ally_worklist = WorklistFactory(organisation=partnered.organisation)
    grant(partnered, ally_worklist)
    allowed_study, refused_study = StudyFactory(), StudyFactory()
    add_to_worklist(allowed_study, ally_worklist)
    add_to_worklist(refused_study, worklist)
    invite(owner, refused_study, worklist, INVITED)  # St Elsewhere: no partnership
    invite(partnered, allowed_study, ally_worklist, INVITED)  # Ally -> Northfield: allowed
    jane = UserFactory(username="jane", email=INVITED, organisation=northfield)

    assert accept(login(jane), link_in_last_email()).status_code == 302
    in_worklist = set(
        WorklistEntry.objects.filter(worklist__owner=jane).values_list("study", flat=True)
    )
    assert in_worklist == {allowed_study.pk}
    assert Invitation.objects.get(study=refused_study).status == "pending"


def test_log_out_from_the_refusal_page_returns_to_the_invitation(login, owner, worklist, study):
    invite(owner, study, worklist, INVITED)
    url = link_in_last_email()
    client = login(UserFactory(username="stranger"))
    response = client.post(reverse("accounts:logout"), {"next": url})
    assert response.status_code == 302 and response["Location"] == url
    page = client.get(
        open_invitation(client, url)
    )  # now anonymous: the invited person can register
    assert page.status_code == 200 and "Create your account" in page.content.decode()


def test_log_out_never_redirects_off_site(login):
    client = login(UserFactory(username="someone"))
    response = client.post(reverse("accounts:logout"), {"next": "https://evil.example/"})
    assert response["Location"] == reverse("accounts:login")


@pytest.mark.parametrize(
    "address, shown",
    [
        ("jane.doe@example.org", "j***@example.org"),
        ("j@example.org", "j***@example.org"),
        ("not-an-address", "***"),
    ],
)
def test_masked_email(address, shown):
    from sharing.selectors import masked_email

    assert masked_email(address) == shown
