"""Invitation emails: the outbox never holds a usable link; the link is made when the email
renders, and an invitation that is no longer pending is not sent at all."""

import datetime
import json
import re

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.test import TestCase
from django.urls import reverse

from notifications.models import OutboundMessage
from notifications.services import message_deliver
from sharing.invitations import make_token
from sharing.models import Invitation
from sharing.services import ShareTarget, invitation_revoke, study_share
from studies.models import WorklistEntry
from tests.factories import UserFactory
from tests.sharing.conftest import open_invitation

pytestmark = pytest.mark.django_db

STRONG = "Tulip-orbit-9-lantern"
ADDRESS = "new.doc@clinic.example"


def invite_without_delivery(actor, study, worklist):
    """Share by email; the on-commit delivery does not run, so the message stays pending."""
    with TestCase.captureOnCommitCallbacks(execute=False):
        study_share(
            actor=actor,
            study=study,
            source_worklist=worklist,
            targets=[ShareTarget("email", ADDRESS)],
        )
    return Invitation.objects.get(email=ADDRESS), OutboundMessage.objects.get(template="invitation")


def signed_payload(invitation):
    """The part of every link for this invitation that does not depend on when it was signed."""
    return make_token(invitation.public_id).split(":")[0]


def assert_no_usable_link(text, invitation):
    assert "/sharing/invite/" not in text
    assert signed_payload(invitation) not in text


def test_the_outbox_holds_no_usable_url_and_the_email_still_links_to_the_invitation(
    client, owner, worklist, study
):
    invitation, message = invite_without_delivery(owner, study, worklist)
    # Every outbox row, as a database dump would show it.
    for context in OutboundMessage.objects.values_list("context", flat=True):
        assert_no_usable_link(json.dumps(context), invitation)
    assert message.context["invitation_id"] == str(invitation.public_id)

    assert message_deliver(message_id=message.pk).status == "sent"
    message.refresh_from_db()
    assert_no_usable_link(json.dumps(message.context), invitation)

    # ... and as the admin shows it, in the list and on the message's page.
    admin = UserFactory(username="admin", is_staff=True, is_superuser=True)
    client.force_login(admin)
    for url in (
        reverse("admin:notifications_outboundmessage_changelist"),
        reverse("admin:notifications_outboundmessage_change", args=[message.pk]),
    ):
        page = client.get(url)
        assert page.status_code == 200
        assert_no_usable_link(page.content.decode(), invitation)
    client.logout()

    # The email itself carries a working link, in text and in HTML.
    [email] = mail.outbox
    text_link = re.search(r"https?://[^/\s]+(/sharing/invite/[^\s]+/)", email.body).group(1)
    html_link = re.search(
        r'href="https?://[^/"]+(/sharing/invite/[^"]+/)"', email.alternatives[0][0]
    )
    assert html_link and signed_payload(invitation) in text_link
    open_invitation(client, text_link)
    response = client.post(
        open_invitation(client, html_link.group(1)),
        {"first_name": "Nia", "last_name": "Okafor", "password1": STRONG, "password2": STRONG},
    )
    assert response.status_code == 302
    user = get_user_model().objects.get(email=ADDRESS)
    assert WorklistEntry.objects.filter(worklist__owner=user, study=study).exists()


def _revoke(invitation, owner):
    invitation_revoke(actor=owner, invitation=invitation)


def _accept(invitation, owner):
    Invitation.objects.filter(pk=invitation.pk).update(status=Invitation.Status.ACCEPTED)


def _expire(invitation, owner):
    Invitation.objects.filter(pk=invitation.pk).update(
        expires_at=invitation.created_at - datetime.timedelta(minutes=1)
    )


def _delete(invitation, owner):
    invitation.share.delete()  # the invitation goes with its share


@pytest.mark.parametrize(
    "change, reason",
    [
        (_revoke, "The invitation was revoked; the email was not sent."),
        (_accept, "The invitation was accepted already; the email was not sent."),
        (_expire, "The invitation has expired; the email was not sent."),
        (_delete, "The invitation no longer exists; the email was not sent."),
    ],
)
def test_an_invitation_no_longer_pending_when_the_email_renders_is_not_sent(
    owner, worklist, study, change, reason
):
    invitation, message = invite_without_delivery(owner, study, worklist)
    change(invitation, owner)
    assert message_deliver(message_id=message.pk).status == "failed"
    message.refresh_from_db()
    assert message.status == "failed" and message.attempts == 1
    assert message.last_error == f"PermanentDeliveryError: {reason}"
    assert not mail.outbox
