"""Sharing into another organisation needs a partnership, whatever the channel: share codes
and the addresses of its users too, not only the organisations channel."""

import pytest
from django.core import mail
from django.test import TestCase
from django.urls import reverse

from audit.models import AuditEvent
from sharing.models import Share
from sharing.services import Outcome, ShareTarget, study_share
from studies.models import WorklistEntry
from tests.factories import (
    OrganisationFactory,
    UserFactory,
    WorklistFactory,
    add_to_worklist,
    grant,
    partnership,
)

pytestmark = pytest.mark.django_db

REFUSAL = "Your organisation may not share with Northfield Clinic; an administrator can allow it."


def share(actor, study, worklist, channel, key):
    with TestCase.captureOnCommitCallbacks(execute=True):
        [outcome] = study_share(
            actor=actor,
            study=study,
            source_worklist=worklist,
            targets=[ShareTarget(channel=channel, key=str(key))],
        )
    return outcome


@pytest.fixture
def northfield(db):
    return OrganisationFactory(name="Northfield Clinic")


@pytest.fixture
def northfield_inbox(northfield):
    inbox = WorklistFactory(organisation=northfield, kind="organisation", name="Northfield inbox")
    reader = UserFactory(
        username="nf-reader", organisation=northfield, email="r@northfield.example"
    )
    grant(reader, inbox, "view_studies")
    return inbox


@pytest.fixture
def northfield_doctor(northfield):
    return UserFactory(username="nf-doc", organisation=northfield, email="doc@northfield.example")


def assert_refused(outcome, worklist, study):
    assert outcome.status == Outcome.REFUSED and outcome.reason == REFUSAL
    assert not WorklistEntry.objects.filter(worklist=worklist, study=study).exists()
    assert not Share.objects.exists() and not mail.outbox
    denied = AuditEvent.objects.get(action="study_shared", outcome="denied")
    assert denied.details["reason"] == REFUSAL


# --- share codes ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["organisation", "location", "group"])
def test_share_code_of_another_organisation_is_refused_without_partnership(
    owner, worklist, study, northfield, organisation, kind
):
    partnership(northfield, organisation)  # the other direction does not count
    target = WorklistFactory(organisation=northfield, kind=kind, name="Northfield list")
    outcome = share(owner, study, worklist, "share_code", target.share_code)
    assert_refused(outcome, target, study)
    assert outcome.label.startswith("Northfield list (")


def test_share_code_of_another_organisation_is_allowed_with_partnership(
    owner, worklist, study, northfield_inbox, northfield, organisation
):
    partnership(organisation, northfield)
    outcome = share(owner, study, worklist, "share_code", northfield_inbox.share_code)
    assert outcome.status == Outcome.SHARED, outcome.reason
    assert WorklistEntry.objects.filter(worklist=northfield_inbox, study=study).exists()
    assert [m.to for m in mail.outbox] == [["r@northfield.example"]]


def test_share_code_of_a_personal_worklist_in_another_organisation_is_refused(
    owner, worklist, study, northfield_doctor
):
    personal = northfield_doctor.personal_worklist
    outcome = share(owner, study, worklist, "share_code", personal.share_code)
    assert_refused(outcome, personal, study)


def test_share_code_of_the_own_organisation_needs_no_partnership(
    owner, worklist, study, cardiology
):
    outcome = share(owner, study, worklist, "share_code", cardiology.share_code)
    assert outcome.status == Outcome.SHARED, outcome.reason


def test_share_code_of_someone_outside_any_organisation_is_allowed(owner, worklist, study):
    invited = UserFactory(username="invited", organisation=None, email="inv@clinic.example")
    outcome = share(owner, study, worklist, "share_code", invited.personal_worklist.share_code)
    assert outcome.status == Outcome.SHARED, outcome.reason
    assert WorklistEntry.objects.filter(worklist__owner=invited, study=study).exists()


# --- email ----------------------------------------------------------------------------------


def test_email_of_a_user_of_another_organisation_is_refused_without_partnership(
    owner, worklist, study, northfield_doctor
):
    outcome = share(owner, study, worklist, "email", "Doc@Northfield.example")
    assert_refused(outcome, northfield_doctor.personal_worklist, study)
    assert outcome.label == "doc@northfield.example"


def test_email_of_a_user_of_another_organisation_is_allowed_with_partnership(
    owner, worklist, study, northfield_doctor, northfield, organisation
):
    partnership(organisation, northfield)
    outcome = share(owner, study, worklist, "email", "doc@northfield.example")
    assert outcome.status == Outcome.SHARED, outcome.reason
    personal = northfield_doctor.personal_worklist
    assert WorklistEntry.objects.filter(worklist=personal, study=study).exists()
    assert [m.to for m in mail.outbox] == [["doc@northfield.example"]]


def test_email_of_a_user_outside_any_organisation_is_allowed(owner, worklist, study):
    invited = UserFactory(username="invited", organisation=None, email="inv@clinic.example")
    outcome = share(owner, study, worklist, "email", "inv@clinic.example")
    assert outcome.status == Outcome.SHARED, outcome.reason
    assert WorklistEntry.objects.filter(worklist__owner=invited, study=study).exists()


def test_email_to_an_address_without_account_is_still_an_invitation(owner, worklist, study):
    outcome = share(owner, study, worklist, "email", "nobody@northfield.example")
    assert outcome.status == Outcome.INVITED


def test_a_personal_worklist_follows_its_owner_into_an_organisation(
    owner, worklist, study, northfield
):
    """Someone invited from outside, later attached to an organisation, is inside it."""
    invited = UserFactory(username="invited", organisation=None, email="inv@clinic.example")
    invited.organisation = northfield
    invited.save()
    outcome = share(owner, study, worklist, "email", "inv@clinic.example")
    assert outcome.status == Outcome.REFUSED and outcome.reason == REFUSAL


def test_someone_outside_any_organisation_cannot_share_into_one(study, northfield_inbox):
    invited = UserFactory(username="invited", organisation=None)
    personal = invited.personal_worklist
    add_to_worklist(study, personal)
    grant(invited, personal)  # even with every permission on their own worklist
    outcome = share(invited, study, personal, "share_code", northfield_inbox.share_code)
    assert outcome.status == Outcome.REFUSED and outcome.reason == REFUSAL


# --- the dialog says so before confirming -------------------------------------------------------


def lookup(client, worklist, code):
    url = reverse("sharing:share_code_lookup", args=[worklist.public_id])
    return client.get(url, {"code": code}).json()


def test_share_code_preview_says_the_organisation_is_not_allowed(
    login, owner, worklist, study, northfield_inbox, northfield, organisation
):
    code = northfield_inbox.share_code
    shown = f"{code[:4]}-{code[4:]}"
    client = login(owner)
    data = lookup(client, worklist, code)
    assert data["found"] is True and data["ok"] is False
    assert data["text"] == (
        f"{shown} is Northfield inbox (organisation worklist) at Northfield Clinic. {REFUSAL}"
    )
    page = client.post(
        reverse("sharing:share", args=[worklist.public_id]),
        {"study": [str(study.public_id)], "check_codes": "1", "share_codes": code},
    ).content.decode()
    assert f'<p class="bad">{shown} is Northfield inbox' in page and REFUSAL in page

    partnership(organisation, northfield)
    data = lookup(client, worklist, code)
    assert data["ok"] is True
    assert (
        data["text"] == f"{shown} is Northfield inbox (organisation worklist) at Northfield Clinic."
    )
