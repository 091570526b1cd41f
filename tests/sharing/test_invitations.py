import re
from urllib.parse import quote

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.test import Client, TestCase
from django.urls import reverse

from audit.models import AuditEvent
from sharing.invitations import make_token
from sharing.models import Invitation
from sharing.services import ShareTarget, study_share
from studies.models import WorklistEntry
from tests.factories import PASSWORD, StudyFactory, UserFactory, add_to_worklist
from tests.sharing.conftest import open_invitation

pytestmark = pytest.mark.django_db

STRONG = "Tulip-orbit-9-lantern"


def invite(actor, study, worklist, email="new.doc@clinic.example"):
    with TestCase.captureOnCommitCallbacks(execute=True):
        study_share(
            actor=actor,
            study=study,
            source_worklist=worklist,
            targets=[ShareTarget("email", email)],
        )
    return Invitation.objects.filter(study=study, email=email.lower()).latest("created_at")


def link_in_last_email() -> str:
    match = re.search(r"https?://[^/\s]+(/sharing/invite/[^\s]+/)", str(mail.outbox[-1].body))
    assert match, mail.outbox[-1].body
    return match.group(1)


def register(client, url, **overrides):
    data = {"first_name": "Nia", "last_name": "Okafor", "password1": STRONG, "password2": STRONG}
    return client.post(url, {**data, **overrides})


def test_invitation_end_to_end_register_and_land_on_the_personal_worklist(
    client, owner, worklist, study
):
    invite(owner, study, worklist)
    url = link_in_last_email()

    page_url = open_invitation(client, url)
    page = client.get(page_url)
    assert page.status_code == 200
    body = page.content.decode()
    assert "Create your account" in body and "new.doc@clinic.example" in body
    assert url not in body  # the token stays in the link, out of the page and its referrers

    response = register(client, page_url)
    user = get_user_model().objects.get(email="new.doc@clinic.example")
    assert user.organisation is None and user.get_full_name() == "Nia Okafor"
    assert user.password.startswith("argon2")
    personal = user.personal_worklist
    assert response.status_code == 302 and response["Location"] == reverse(
        "worklists:detail", args=[personal.public_id]
    )
    # Logged in, and the study is in the personal worklist.
    listing = client.get(response["Location"]).content.decode()
    assert study.patient_id in listing
    assert client.get(reverse("studies:detail", args=[study.public_id])).status_code == 200
    invitation = Invitation.objects.get()
    assert invitation.status == "accepted" and invitation.accepted_by == user
    assert invitation.share.target_user == user and invitation.share.target_worklist == personal
    assert WorklistEntry.objects.get(worklist=personal, study=study).share == invitation.share
    assert AuditEvent.objects.filter(action="invitation_accepted", actor=user).count() == 1
    # The link is used now.
    client.logout()
    assert client.get(url).status_code == 410


def test_every_pending_invitation_to_the_address_is_honoured_at_once(
    client, owner, worklist, study
):
    second, third = StudyFactory(), StudyFactory()
    for extra in (second, third):
        add_to_worklist(extra, worklist)
    invite(owner, study, worklist, "Multi@Clinic.example")
    invite(owner, second, worklist, "multi@clinic.example")
    invite(owner, third, worklist, "multi@clinic.example")
    assert len(mail.outbox) == 3
    register(client, open_invitation(client, link_in_last_email()))
    user = get_user_model().objects.get(email="multi@clinic.example")
    in_worklist = set(
        WorklistEntry.objects.filter(worklist__owner=user).values_list("study", flat=True)
    )
    assert in_worklist == {study.pk, second.pk, third.pk}
    assert not Invitation.objects.filter(status="pending").exists()


def test_a_signed_in_user_with_the_invited_address_accepts_after_a_get_that_changes_nothing(
    login, owner, worklist, study
):
    invite(owner, study, worklist, "someone@clinic.example")
    url = link_in_last_email()
    # An account opened some other way meanwhile, with the address in another case.
    existing = UserFactory(username="existing", email="Someone@Clinic.example", organisation=None)
    client = login(existing)
    page_url = open_invitation(client, url)
    page = client.get(page_url)
    assert page.status_code == 200 and "Add it to my personal worklist" in page.content.decode()
    assert not WorklistEntry.objects.filter(
        worklist__owner=existing
    ).exists()  # a GET changes nothing
    response = client.post(page_url)
    assert response.status_code == 302
    assert WorklistEntry.objects.filter(worklist__owner=existing, study=study).exists()
    assert client.get(url).status_code == 410


def test_a_user_whose_address_was_invited_gets_all_its_invitations(login, owner, worklist, study):
    second = StudyFactory()
    add_to_worklist(second, worklist)
    invite(owner, study, worklist, "late@clinic.example")
    invite(owner, second, worklist, "late@clinic.example")
    # They opened an account some other way meanwhile, then follow the link.
    user = UserFactory(username="late", email="late@clinic.example", organisation=None)
    client = login(user)
    client.post(open_invitation(client, link_in_last_email()))
    assert WorklistEntry.objects.filter(worklist__owner=user).count() == 2


def test_anonymous_with_an_existing_account_is_asked_to_log_in(client, owner, worklist, study):
    invite(owner, study, worklist, "someone@clinic.example")
    UserFactory(username="someone", email="someone@clinic.example", organisation=None)
    url = open_invitation(client, link_in_last_email())
    body = client.get(url).content.decode()
    assert "Log in to accept" in body and f"next={quote(url)}" in body
    assert register(client, url).status_code == 200  # the login page again, no account made
    # After logging in, the page they come back to accepts it (the session kept it).
    assert client.login(username="someone", password=PASSWORD)
    assert "Add it to my personal worklist" in client.get(url).content.decode()
    assert get_user_model().objects.filter(email="someone@clinic.example").count() == 1


def test_registration_errors_are_shown_and_nothing_is_created(client, owner, worklist, study):
    invite(owner, study, worklist)
    url = open_invitation(client, link_in_last_email())
    response = register(client, url, password2="something-else-42")
    assert response.status_code == 400 and "The two passwords differ." in response.content.decode()
    response = register(client, url, password1="password", password2="password")
    assert response.status_code == 400 and "too common" in response.content.decode()
    response = register(client, url, first_name="")
    assert response.status_code == 400 and "This field is required." in response.content.decode()
    assert not get_user_model().objects.filter(email="new.doc@clinic.example").exists()
    assert Invitation.objects.get().status == "pending"


def test_expired_link_is_a_clear_410(client, owner, worklist, study, settings):
    invite(owner, study, worklist)
    url = link_in_last_email()
    settings.INVITATION_MAX_AGE_DAYS = 0  # every signature is now too old
    response = client.get(url)
    assert response.status_code == 410
    assert "This invitation has expired" in response.content.decode()


def test_invitation_past_its_expiry_date_is_a_clear_410(client, owner, worklist, study):
    import datetime

    invitation = invite(owner, study, worklist)
    Invitation.objects.filter(pk=invitation.pk).update(
        expires_at=invitation.created_at - datetime.timedelta(days=1)
    )
    response = client.get(link_in_last_email())
    assert response.status_code == 410 and "expired" in response.content.decode()
    # A new share to the same address replaces the expired invitation.
    fresh = invite(owner, study, worklist)
    assert (
        fresh.pk != invitation.pk and Invitation.objects.get(pk=invitation.pk).status == "expired"
    )


def test_tampered_link_is_a_clear_400(client, owner, worklist, study):
    invite(owner, study, worklist)
    url = link_in_last_email()
    tampered = url[:-3] + ("A" if url[-3] != "A" else "B") + url[-2:]
    response = client.get(tampered)
    assert response.status_code == 400
    assert "This invitation link is not valid" in response.content.decode()
    assert client.get("/sharing/invite/garbage/").status_code == 400
    # The tampered link put nothing in the session: the page has no invitation to fill in.
    response = register(client, reverse("sharing:invitation_page"))
    assert response.status_code == 400 and "Open the invitation link again" in (
        response.content.decode()
    )
    assert not get_user_model().objects.filter(email="new.doc@clinic.example").exists()


def test_signed_link_to_a_missing_invitation_is_404(client):
    import uuid

    assert (
        client.get(reverse("sharing:invitation", args=[make_token(uuid.uuid4())])).status_code
        == 404
    )


def test_wrong_method_on_the_link_is_405(client, owner, worklist, study):
    invite(owner, study, worklist)
    assert client.put(link_in_last_email()).status_code == 405
    assert client.post(link_in_last_email()).status_code == 405  # forms post to the page
    assert client.put(reverse("sharing:invitation_page")).status_code == 405


def test_the_forms_pass_csrf_with_the_origin_a_browser_sends(owner, worklist, study):
    """The page without the token keeps the site's referrer policy, so a browser posts its own
    origin, which Django's CSRF check accepts along with the token."""
    invite(owner, study, worklist)
    browser = Client(enforce_csrf_checks=True)
    page_url = open_invitation(browser, link_in_last_email())
    page = browser.get(page_url)
    assert page["Referrer-Policy"] == "same-origin"
    data = {"first_name": "Nia", "last_name": "Okafor", "password1": STRONG, "password2": STRONG}
    assert browser.post(page_url, data, HTTP_ORIGIN="http://testserver").status_code == 403
    data["csrfmiddlewaretoken"] = page.context["csrf_token"]
    assert browser.post(page_url, data, HTTP_ORIGIN="https://evil.example").status_code == 403
    response = browser.post(page_url, data, HTTP_ORIGIN="http://testserver")
    assert response.status_code == 302
    assert get_user_model().objects.filter(email="new.doc@clinic.example").exists()


def test_an_invitation_withdrawn_after_the_link_was_opened_is_refused(
    client, owner, worklist, study
):
    invitation = invite(owner, study, worklist)
    page_url = open_invitation(client, link_in_last_email())
    Invitation.objects.filter(pk=invitation.pk).update(status=Invitation.Status.REVOKED)
    response = register(client, page_url)
    assert response.status_code == 410 and "withdrew" in response.content.decode()
    assert not get_user_model().objects.filter(email="new.doc@clinic.example").exists()


# --- revocation -------------------------------------------------------------------------------


def revoke_url(invitation):
    return reverse("sharing:invitation_revoke", args=[invitation.public_id])


def test_pending_invitations_are_listed_on_the_study_page_and_revocable(
    login, owner, worklist, study
):
    invitation = invite(owner, study, worklist)
    client = login(owner)
    page = client.get(reverse("studies:detail", args=[study.public_id])).content.decode()
    assert (
        "Pending invitations" in page
        and "new.doc@clinic.example" in page
        and revoke_url(invitation) in page
    )
    response = client.post(revoke_url(invitation), {"next": "/studies/x/"})
    assert response.status_code == 302
    invitation.refresh_from_db()
    assert invitation.status == "revoked" and invitation.revoked_by == owner
    assert AuditEvent.objects.filter(action="invitation_revoked").count() == 1
    client.logout()
    response = client.get(link_in_last_email())
    assert response.status_code == 410 and "withdrawn" in response.content.decode()
    # Revoking twice says so plainly.
    login(owner)
    response = client.post(revoke_url(invitation), follow=True)
    assert "no longer pending" in response.content.decode()


def test_someone_who_may_share_from_the_worklist_may_revoke(login, owner, member, worklist, study):
    invitation = invite(owner, study, worklist)
    assert login(member).post(revoke_url(invitation)).status_code == 302  # member has share_study
    assert Invitation.objects.get().status == "revoked"


def test_revoke_outsider_404_read_only_403_get_405(
    login, owner, read_only, outsider, worklist, study
):
    invitation = invite(owner, study, worklist)
    assert login(outsider).post(revoke_url(invitation)).status_code == 404
    client = login(read_only)
    assert client.post(revoke_url(invitation)).status_code == 403
    assert client.get(revoke_url(invitation)).status_code == 405
    assert Invitation.objects.get().status == "pending"


def test_revoke_next_must_be_local(login, owner, worklist, study):
    invitation = invite(owner, study, worklist)
    response = login(owner).post(revoke_url(invitation), {"next": "https://evil.example/"})
    assert response["Location"] == reverse("studies:detail", args=[study.public_id])


def test_invited_user_without_organisation_sees_only_their_worklist(client, owner, worklist, study):
    invite(owner, study, worklist)
    register(client, open_invitation(client, link_in_last_email()))
    user = get_user_model().objects.get(email="new.doc@clinic.example")
    assert client.get(reverse("worklists:detail", args=[worklist.public_id])).status_code == 404
    client.logout()
    assert user.username == "new.doc@clinic.example"
    assert client.login(username="new.doc@clinic.example", password=STRONG)
