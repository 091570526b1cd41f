"""The edit page and the printable handout of a guest link, and their place in the panel."""

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from guestlinks.models import GuestLink
from tests.factories import UserFactory, grant
from tests.guestlinks.conftest import open_link, outbox

pytestmark = pytest.mark.django_db


def edit_url(link):
    return reverse("guestlinks:edit", args=[link.public_id])


def handout_url(link):
    return reverse("guestlinks:handout", args=[link.public_id])


def study_page(study, worklist):
    return reverse("studies:detail", args=[study.public_id]) + f"?worklist={worklist.public_id}"


def user_with(worklist, *codenames):
    user = UserFactory(organisation=worklist.organisation)
    grant(user, worklist, "view_studies", *codenames)
    return user


FORM = {"expires": "", "max_password_attempts": "5"}


# --- the panel ---------------------------------------------------------------------------


def test_the_list_shows_states_and_the_edit_and_handout_actions(
    login, owner, study, worklist, make_link
):
    active = make_link()
    disabled = make_link()
    GuestLink.objects.filter(pk=disabled.pk).update(disabled_at=timezone.now())
    locked = make_link(password="pass-word-1")
    GuestLink.objects.filter(pk=locked.pk).update(locked_at=timezone.now())
    body = login(owner).get(study_page(study, worklist)).content.decode()
    assert f'href="{edit_url(active)}"' in body and f'href="{handout_url(active)}"' in body
    assert f'href="{handout_url(disabled)}"' not in body  # nothing to print
    assert "Disabled" in body and "it is disabled" in body
    assert "Unlock or edit" in body


def test_a_viewer_without_create_sees_no_edit(login, study, worklist, make_link):
    link = make_link()
    viewer = user_with(worklist, "view_guest_links")
    body = login(viewer).get(study_page(study, worklist)).content.decode()
    assert f'href="{edit_url(link)}"' not in body
    assert f'href="{handout_url(link)}"' in body


# --- the edit page -----------------------------------------------------------------------


def test_edit_page_shows_the_current_values(login, owner, make_link):
    link = make_link(max_uses=4, email="a@example.net", message="Hello")
    response = login(owner).get(edit_url(link))
    assert response.status_code == 200
    body = response.content.decode()
    assert 'name="max_uses"' in body and 'value="4"' in body
    assert 'value="a@example.net"' in body and "Hello</textarea>" in body
    assert 'name="csrfmiddlewaretoken"' in body
    assert "Keep the current expiry" in body


def test_edit_saves_every_field(login, owner, make_link):
    link = make_link(email="a@example.net")
    response = login(owner).post(
        edit_url(link),
        {
            "expires": "30d",
            "max_uses": "7",
            "max_password_attempts": "9",
            "email": "b@example.net",
            "mobile": "+447911123456",
            "message": "New words",
            "disabled": "on",
        },
    )
    assert response.status_code == 302
    link.refresh_from_db()
    assert link.max_uses == 7 and link.max_password_attempts == 9
    assert link.email == "b@example.net" and str(link.mobile) == "+447911123456"
    assert link.message == "New words" and link.state == "disabled"
    assert link.expires_at > timezone.now() + datetime.timedelta(days=29)
    (event,) = AuditEvent.objects.filter(action=AuditEvent.Action.GUESTLINK_CHANGED)
    assert set(event.details["changed"]) == {
        "expires_at",
        "max_uses",
        "max_password_attempts",
        "email",
        "mobile",
        "message",
        "disabled",
    }
    assert len(outbox("guestlink_invite")) == 1  # disabled: the new email waits for "send"


def test_edit_with_a_custom_expiry_and_errors_next_to_fields(login, owner, make_link):
    link = make_link()
    client = login(owner)
    response = client.post(edit_url(link), {**FORM, "expires": "custom"})
    assert response.status_code == 400
    assert "Choose the date and time" in response.content.decode()
    past = (timezone.localtime() - datetime.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    response = client.post(edit_url(link), {**FORM, "expires": "custom", "expires_custom": past})
    assert response.status_code == 400 and "in the future" in response.content.decode()
    assert 'role="alert"' in response.content.decode()
    assert GuestLink.objects.get(pk=link.pk).expires_at == link.expires_at


def test_enable_again_and_send(login, owner, make_link):
    link = make_link(email="a@example.net")
    GuestLink.objects.filter(pk=link.pk).update(disabled_at=timezone.now())
    response = login(owner).post(edit_url(link), {**FORM, "email": "a@example.net", "send": "on"})
    assert response.status_code == 302
    assert GuestLink.objects.get(pk=link.pk).state == "active"
    assert len(outbox("guestlink_invite")) == 2


def test_unlock_button(client, login, owner, make_link):
    link = make_link(password="pass-word-1", max_password_attempts=1)
    open_link(client, link, "wrong-word")
    assert GuestLink.objects.get(pk=link.pk).state == "locked"
    client = login(owner)
    assert "Unlock" in client.get(edit_url(link)).content.decode()
    response = client.post(edit_url(link), {"unlock": "1"})
    assert response.status_code == 302
    link.refresh_from_db()
    assert link.state == "active" and link.password_failures == 0
    assert AuditEvent.objects.filter(action=AuditEvent.Action.GUESTLINK_UNLOCKED).count() == 1


def test_edit_access(client, login, make_link, worklist, outsider, read_only, member):
    link = make_link()
    assert client.get(edit_url(link)).status_code == 302  # to the login page
    assert login(outsider).get(edit_url(link)).status_code == 404
    for user in (read_only, member, user_with(worklist, "view_guest_links")):
        assert login(user).get(edit_url(link)).status_code == 403
        assert login(user).post(edit_url(link), {**FORM, "max_uses": "3"}).status_code == 403
    assert GuestLink.objects.get(pk=link.pk).max_uses is None
    assert login(user_with(worklist, "create_guest_links")).get(edit_url(link)).status_code == 200
    assert login(outsider).put(edit_url(link)).status_code == 405


def test_a_deleted_link_has_no_edit_page(login, owner, make_link):
    from guestlinks import services

    link = make_link()
    services.guestlink_delete(actor=owner, link=link)
    response = login(owner).get(edit_url(link))
    assert response.status_code == 302


# --- the handout --------------------------------------------------------------------------


def test_handout_has_the_url_and_qr_code_but_never_the_password(login, owner, make_link, settings):
    settings.SITE_URL = "https://share.example.org"
    link = make_link(password="pass-word-1", max_uses=2)
    response = login(owner).get(handout_url(link))
    assert response.status_code == 200
    body = response.content.decode()
    assert f"https://share.example.org{link.get_absolute_url()}" in body
    assert '<svg viewBox="' in body and 'class="qr-code"' in body
    assert "QR code of the link" in body
    assert "pass-word-1" not in body
    assert "The password is not on this sheet" in body and "Password" in body
    assert "open them 2 times" in body
    assert "no-store" in response["Cache-Control"]
    assert response["Referrer-Policy"] == "no-referrer"
    assert "<script>" not in body and " style=" not in body and " onclick" not in body


def test_handout_qr_code_encodes_the_url(login, owner, make_link, settings):
    """The QR code is the URL itself: the same modules segno makes for it."""
    import segno

    settings.SITE_URL = "https://share.example.org"
    link = make_link()
    body = login(owner).get(handout_url(link)).content.decode()
    url = f"https://share.example.org{link.get_absolute_url()}"
    expected = segno.make(url, error="m", micro=False).svg_inline(scale=4, border=4, omitsize=True)
    path = expected[expected.index("<path") :]
    assert path in body


def test_birth_date_handout_explains_the_format_never_the_date(login, owner, make_link, study):
    link = make_link(password_is_dob=True)
    body = login(owner).get(handout_url(link)).content.decode()
    assert "date of birth" in body and "19840321" in body
    assert study.patient_birth_date.strftime("%Y%m%d") not in body


def test_handout_of_a_link_that_no_longer_opens(login, owner, make_link):
    link = make_link()
    GuestLink.objects.filter(pk=link.pk).update(disabled_at=timezone.now())
    response = login(owner).get(handout_url(link))
    assert response.status_code == 409
    body = response.content.decode()
    assert "no longer opens" in body and link.token not in body and "<svg viewBox" not in body


def test_handout_access(client, login, make_link, worklist, outsider, read_only):
    link = make_link()
    assert client.get(handout_url(link)).status_code == 302
    assert login(outsider).get(handout_url(link)).status_code == 404
    assert login(read_only).get(handout_url(link)).status_code == 403
    assert login(user_with(worklist, "view_guest_links")).get(handout_url(link)).status_code == 200
    assert login(outsider).post(handout_url(link)).status_code == 405
