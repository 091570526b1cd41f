"""The sender sees what did not arrive: delivery state in the share history and the pending
invitations, "Send again" for an invitation whose email failed for good."""

import smtplib

import pytest
from django.core import mail
from django.test import TestCase
from django.urls import reverse

from notifications.models import OutboundMessage
from sharing.models import Invitation
from sharing.services import ShareTarget, study_share
from tests.notifications.backends import ScriptedBackend

pytestmark = pytest.mark.django_db

ADDRESS = "new.doc@clinic.example"
REFUSED = smtplib.SMTPRecipientsRefused({ADDRESS: (550, b"5.1.1 No such user")})


@pytest.fixture
def refused_invitation(settings, owner, study, worklist):
    """An invitation whose email the recipient's server refused (550 at RCPT)."""
    settings.EMAIL_BACKEND = "tests.notifications.backends.ScriptedBackend"
    ScriptedBackend.failures, ScriptedBackend.attempts = [REFUSED], 0
    with TestCase.captureOnCommitCallbacks(execute=True):
        study_share(
            actor=owner,
            study=study,
            source_worklist=worklist,
            targets=[ShareTarget("email", ADDRESS)],
        )
    return Invitation.objects.get(email=ADDRESS)


def send_again_url(invitation):
    return reverse("sharing:invitation_send_again", args=[invitation.public_id])


def study_page(login, user, study, worklist):
    url = reverse("studies:detail", args=[study.public_id]) + f"?worklist={worklist.public_id}"
    return login(user).get(url).content.decode()


def test_the_study_page_shows_the_failure_in_plain_words_with_send_again(
    login, owner, study, worklist, refused_invitation
):
    body = study_page(login, owner, study, worklist)
    assert "Pending invitations" in body and "Not delivered" in body
    assert "The recipient&#x27;s mail server refused the address (550 5.1.1 No such user)." in body
    assert send_again_url(refused_invitation) in body
    # The owner was told by email too (the notice itself went through).
    notice = OutboundMessage.objects.get(template="delivery_failed")
    assert notice.recipient == owner.email and notice.status == "sent"
    assert any(ADDRESS in m.body and "550" in m.body for m in mail.outbox)


def test_send_again_delivers_it_and_the_page_says_sent(
    login, owner, study, worklist, refused_invitation, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = login(owner).post(send_again_url(refused_invitation))
    assert response.status_code == 302 and "#share-history" in response["Location"]
    message = OutboundMessage.objects.get(template="invitation")
    assert message.status == "sent" and message.attempts == 1
    body = study_page(login, owner, study, worklist)
    assert "Not delivered" not in body and send_again_url(refused_invitation) not in body
    assert f"Email to {ADDRESS}" in body


def test_send_again_checks_method_and_permission(
    login, owner, read_only, outsider, refused_invitation
):
    url = send_again_url(refused_invitation)
    assert login(owner).get(url).status_code == 405
    assert login(outsider).post(url).status_code == 404
    assert login(read_only).post(url).status_code == 403
    assert OutboundMessage.objects.get(template="invitation").status == "failed"


def test_send_again_with_nothing_failed_says_so(login, owner, refused_invitation):
    client = login(owner)
    client.post(send_again_url(refused_invitation))
    response = client.post(send_again_url(refused_invitation), follow=True)
    assert "nothing to send again" in response.content.decode()


def test_a_share_to_a_colleague_shows_its_email_state(login, owner, colleague, study, worklist):
    from tests.factories import grant

    grant(colleague, worklist, "view_studies")
    with TestCase.captureOnCommitCallbacks(execute=True):
        study_share(
            actor=owner,
            study=study,
            source_worklist=worklist,
            targets=[ShareTarget("physician", str(colleague.public_id))],
        )
    body = study_page(login, owner, study, worklist)
    assert f"Email to {colleague.email}" in body and ">Sent<" in body


def test_a_revoked_invitation_is_not_sent_and_the_sender_gets_no_failure_notice(
    owner, study, worklist
):
    from notifications.services import message_deliver
    from sharing.services import invitation_revoke

    with TestCase.captureOnCommitCallbacks(execute=False):  # the email is still queued
        study_share(
            actor=owner,
            study=study,
            source_worklist=worklist,
            targets=[ShareTarget("email", ADDRESS)],
        )
    invitation_revoke(actor=owner, invitation=Invitation.objects.get())
    message = OutboundMessage.objects.get(template="invitation")
    assert message_deliver(message_id=message.pk).status == "failed"
    message.refresh_from_db()
    assert message.failure_reason == "The invitation was revoked; the email was not sent."
    assert not OutboundMessage.objects.filter(template="delivery_failed").exists()
    assert not mail.outbox
