import datetime

import pytest
from django.core import mail
from django.test import TestCase

from audit.models import AuditEvent
from notifications.models import OutboundMessage
from sharing.models import Invitation, Share
from sharing.selectors import organisation_physicians
from sharing.services import Outcome, ShareTarget, studies_share, study_share
from studies.models import WorklistEntry
from tests.factories import (
    OrganisationFactory,
    StudyFactory,
    UserFactory,
    WorklistFactory,
    grant,
    partnership,
)
from worklists.models import PRODUCT_PERMISSION_CODENAMES, Worklist

pytestmark = pytest.mark.django_db


def share(actor, study, worklist, *targets, message=""):
    """Share and commit: the emails go out on commit, as in production."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        return study_share(
            actor=actor,
            study=study,
            source_worklist=worklist,
            targets=list(targets),
            message=message,
        )


def T(channel, key):
    return ShareTarget(channel=channel, key=str(key))


def sharer_without(worklist, organisation, *missing):
    user = UserFactory(username="limited", organisation=organisation)
    codenames = [c for c in PRODUCT_PERMISSION_CODENAMES if c not in missing]
    grant(user, worklist, *codenames)
    return user


# --- each channel, allowed --------------------------------------------------------------


def test_share_to_a_location_adds_the_study_once_with_share_audit_and_email(
    owner, worklist, study, cardiology
):
    [outcome] = share(
        owner, study, worklist, T("location", cardiology.public_id), message="Please review"
    )
    assert outcome.status == Outcome.SHARED and outcome.label == "Cardiology"
    entry = WorklistEntry.objects.get(worklist=cardiology, study=study)
    assert entry.source == WorklistEntry.Source.SHARE and entry.added_by == owner
    share_row = entry.share
    assert (share_row.channel, share_row.source_worklist, share_row.target_worklist) == (
        "location",
        worklist,
        cardiology,
    )
    assert share_row.message == "Please review" and share_row.shared_by == owner
    event = AuditEvent.objects.get(action="study_shared", outcome="success")
    assert event.study_instance_uid == study.study_instance_uid and event.actor == owner
    # The member of Cardiology who may view it is told, without the patient's name.
    assert [m.to for m in mail.outbox] == [["cardio@example.org"]]
    email = mail.outbox[0]
    assert "Jane" not in email.subject + email.body and "Doe" not in email.subject + email.body
    assert f"/studies/{study.public_id}/?worklist={cardiology.public_id}" in email.body
    assert email.alternatives and "Open the study" in email.alternatives[0][0]


def test_sharing_twice_says_already_there(owner, worklist, study, cardiology):
    share(owner, study, worklist, T("location", cardiology.public_id))
    [again] = share(owner, study, worklist, T("location", cardiology.public_id))
    assert again.status == Outcome.ALREADY_THERE and "already in Cardiology" in again.reason
    assert WorklistEntry.objects.filter(worklist=cardiology, study=study).count() == 1
    assert Share.objects.count() == 1


def test_share_to_a_group(owner, worklist, study, chest_group):
    [outcome] = share(owner, study, worklist, T("group", chest_group.public_id))
    assert outcome.status == Outcome.SHARED
    assert WorklistEntry.objects.filter(worklist=chest_group, study=study).exists()


def test_a_location_is_not_a_group(owner, worklist, study, cardiology):
    [outcome] = share(owner, study, worklist, T("group", cardiology.public_id))
    assert (
        outcome.status == Outcome.REFUSED
        and outcome.reason == "No such group in your organisation."
    )


def test_share_to_a_physician_lands_in_their_personal_worklist(owner, worklist, study, colleague):
    [outcome] = share(owner, study, worklist, T("physician", colleague.public_id))
    assert outcome.status == Outcome.SHARED and outcome.label == "Ada Lovelace"
    personal = Worklist.objects.get(owner=colleague)
    assert WorklistEntry.objects.filter(worklist=personal, study=study).exists()
    assert Share.objects.get().target_user == colleague
    assert [m.to for m in mail.outbox] == [["ada@example.org"]]


def test_physician_of_another_organisation_is_refused(owner, worklist, study, outsider):
    [outcome] = share(owner, study, worklist, T("physician", outsider.public_id))
    assert outcome.status == Outcome.REFUSED
    assert outcome.reason == "No such physician in your organisation."
    assert not WorklistEntry.objects.filter(worklist__owner=outsider).exists()


def test_share_to_a_partner_organisation(owner, worklist, study, partner, organisation):
    partnership(organisation, partner)
    [outcome] = share(owner, study, worklist, T("organisation", partner.public_id))
    assert outcome.status == Outcome.SHARED and outcome.label == "Partner Hospital"
    inbox = partner.worklists.get(kind="organisation")
    assert WorklistEntry.objects.filter(worklist=inbox, study=study).exists()
    assert [m.to for m in mail.outbox] == [["reader@partner.example"]]


def test_organisation_without_partnership_is_refused(owner, worklist, study, partner, organisation):
    partnership(partner, organisation)  # the other direction does not count
    [outcome] = share(owner, study, worklist, T("organisation", partner.public_id))
    assert outcome.status == Outcome.REFUSED
    assert outcome.reason == (
        "St Elsewhere may not share with Partner Hospital: an administrator has not allowed it."
    )
    assert not WorklistEntry.objects.filter(worklist__organisation=partner).exists()
    assert AuditEvent.objects.filter(action="study_shared", outcome="denied").count() == 1


@pytest.mark.parametrize("typed", ["{code}", "{lower}", "{dashed}", "{lower_dashed}", " {spaced} "])
def test_share_code_in_every_accepted_form(owner, worklist, study, organisation, typed):
    target = WorklistFactory(organisation=OrganisationFactory(name="Far Away"), name="Far inbox")
    partnership(organisation, target.organisation)
    code = target.share_code
    forms = {
        "code": code,
        "lower": code.lower(),
        "dashed": f"{code[:4]}-{code[4:]}",
        "lower_dashed": f"{code[:4]}-{code[4:]}".lower(),
        "spaced": f"{code[:4]} {code[4:]}",
    }
    [outcome] = share(owner, study, worklist, T("share_code", typed.format(**forms)))
    assert outcome.status == Outcome.SHARED, outcome.reason
    assert outcome.label == f"Far inbox ({code[:4]}-{code[4:]}, Far Away)"
    assert WorklistEntry.objects.filter(worklist=target, study=study).exists()


def test_unknown_and_malformed_share_codes_say_so(owner, worklist, study):
    unknown, malformed = share(
        owner, study, worklist, T("share_code", "2345-6789"), T("share_code", "hello")
    )
    assert (
        unknown.status == Outcome.REFUSED
        and unknown.reason == "No worklist has the share code 2345-6789."
    )
    assert malformed.status == Outcome.REFUSED and "not a share code" in malformed.reason


def test_email_of_an_active_user_shares_into_their_personal_worklist(
    owner, worklist, study, colleague
):
    [outcome] = share(owner, study, worklist, T("email", "ADA@example.org "))
    assert outcome.status == Outcome.SHARED
    assert WorklistEntry.objects.filter(worklist__owner=colleague, study=study).exists()
    assert not Invitation.objects.exists()
    assert [m.to for m in mail.outbox] == [["ada@example.org"]]


def test_email_without_account_creates_an_invitation_naming_no_patient(owner, worklist, study):
    [outcome] = share(
        owner, study, worklist, T("email", "new.doc@clinic.example"), message="Jane Doe, see"
    )
    assert outcome.status == Outcome.INVITED
    invitation = Invitation.objects.get()
    assert invitation.email == "new.doc@clinic.example" and invitation.status == "pending"
    assert invitation.share.channel == "email" and invitation.share.target_email == invitation.email
    lifetime = invitation.expires_at - invitation.created_at
    assert abs(lifetime - datetime.timedelta(days=14)) < datetime.timedelta(seconds=5)
    [email] = mail.outbox
    assert email.to == ["new.doc@clinic.example"]
    text = email.subject + email.body + email.alternatives[0][0]
    for phi in ("Jane", "Doe", study.patient_id, study.accession_number, "CT chest"):
        assert phi not in text
    assert "St Elsewhere" in email.body and "/sharing/invite/" in email.body
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"study_shared", "invitation_created"} <= actions


def test_inviting_the_same_address_twice_for_one_study_says_already_there(owner, worklist, study):
    share(owner, study, worklist, T("email", "x@clinic.example"))
    [again] = share(owner, study, worklist, T("email", "X@clinic.example"))
    assert again.status == Outcome.ALREADY_THERE
    assert Invitation.objects.count() == 1 and len(mail.outbox) == 1


def test_bad_email_is_refused(owner, worklist, study):
    [outcome] = share(owner, study, worklist, T("email", "not-an-address"))
    assert outcome.status == Outcome.REFUSED and outcome.reason == "That is not an email address."


# --- refusals -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "channel, permission",
    [
        ("organisation", "share_with_organisations"),
        ("location", "share_with_locations"),
        ("group", "share_with_groups"),
        ("physician", "share_with_users"),
        ("share_code", "share_via_code"),
        ("email", "share_via_email"),
    ],
)
def test_each_channel_needs_its_own_permission(
    worklist, organisation, study, cardiology, chest_group, colleague, partner, channel, permission
):
    partnership(organisation, partner)
    keys = {
        "organisation": partner.public_id,
        "location": cardiology.public_id,
        "group": chest_group.public_id,
        "physician": colleague.public_id,
        "share_code": cardiology.share_code,
        "email": "someone@clinic.example",
    }
    user = sharer_without(worklist, organisation, permission)
    [outcome] = share(user, study, worklist, T(channel, keys[channel]))
    assert outcome.status == Outcome.REFUSED
    assert outcome.reason.startswith("Your role on Radiology does not allow sharing with")
    assert not Share.objects.exists() and not Invitation.objects.exists() and not mail.outbox
    # With the permission the same share goes through.
    grant(user, worklist)
    user = type(user).objects.get(pk=user.pk)  # fresh permission cache
    [outcome] = share(user, study, worklist, T(channel, keys[channel]))
    assert outcome.status in (Outcome.SHARED, Outcome.INVITED), outcome.reason


def test_without_share_study_everything_is_refused(worklist, organisation, study, cardiology):
    user = sharer_without(worklist, organisation, "share_study")
    [outcome] = share(user, study, worklist, T("location", cardiology.public_id))
    assert outcome.reason == "Your role on Radiology does not allow sharing studies."
    assert not WorklistEntry.objects.filter(worklist=cardiology).exists()


def test_a_study_not_in_the_source_worklist_cannot_be_shared_from_it(owner, worklist, cardiology):
    elsewhere = StudyFactory()
    [outcome] = share(owner, elsewhere, worklist, T("location", cardiology.public_id))
    assert outcome.reason == "This study is not in Radiology for you to share."


def test_a_non_member_cannot_share(outsider, worklist, study, cardiology):
    [outcome] = share(outsider, study, worklist, T("location", cardiology.public_id))
    assert outcome.status == Outcome.REFUSED
    assert not WorklistEntry.objects.filter(worklist=cardiology).exists()


def test_several_studies_and_targets_at_once(owner, worklist, study, cardiology, colleague):
    second = StudyFactory()
    from tests.factories import add_to_worklist

    add_to_worklist(second, worklist)
    add_to_worklist(second, cardiology)
    with TestCase.captureOnCommitCallbacks(execute=True):
        results = studies_share(
            actor=owner,
            studies=[study, second],
            source_worklist=worklist,
            targets=[T("location", cardiology.public_id), T("physician", colleague.public_id)],
        )
    assert [o.status for o in results[study]] == ["shared", "shared"]
    assert [o.status for o in results[second]] == ["already_there", "shared"]
    assert OutboundMessage.objects.count() == 3  # one per new share: cardio, then Ada twice


def test_physicians_are_the_organisations_clinicians_not_staff_only_accounts(
    owner, worklist, study, colleague, organisation
):
    """An administrator's account (staff, a member of none of the organisation's worklists) is
    not a physician to share to; a staff member who also works in a worklist is; so is a
    clinician of the organisation without memberships yet. Inactive accounts are not."""
    admin_only = UserFactory(username="admin-only", organisation=organisation, is_staff=True)
    staff_clinician = UserFactory(username="staff-doc", organisation=organisation, is_staff=True)
    grant(staff_clinician, worklist, "view_studies")
    gone = UserFactory(username="gone", organisation=organisation, is_active=False)
    physicians = set(organisation_physicians(owner))
    assert physicians == {colleague, staff_clinician}
    assert owner not in physicians and admin_only not in physicians and gone not in physicians

    # A crafted POST cannot reach the account the dialog does not offer.
    [outcome] = share(owner, study, worklist, T("physician", admin_only.public_id))
    assert outcome.status == Outcome.REFUSED
    assert outcome.reason == "No such physician in your organisation."
    assert not WorklistEntry.objects.filter(worklist__owner=admin_only).exists()
