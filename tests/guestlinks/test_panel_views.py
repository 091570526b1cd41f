"""The panel on the study page and its create/delete endpoints."""

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from guestlinks import services
from guestlinks.models import GuestLink
from tests.factories import StudyFactory, UserFactory, add_to_worklist, grant
from tests.guestlinks.conftest import open_link, outbox

pytestmark = pytest.mark.django_db


def study_page(study, worklist):
    return reverse("studies:detail", args=[study.public_id]) + f"?worklist={worklist.public_id}"


def create_url(worklist, study):
    return reverse("guestlinks:create", args=[worklist.public_id, study.public_id])


def delete_url(link):
    return reverse("guestlinks:delete", args=[link.public_id])


def user_with(worklist, *codenames):
    user = UserFactory(organisation=worklist.organisation)
    grant(user, worklist, "view_studies", *codenames)
    return user


FORM = {"gl-expires": "7d", "gl-max_password_attempts": "5"}


# --- the panel ---------------------------------------------------------------------------


def test_owner_sees_the_action_form_and_links(login, owner, study, worklist, make_link, settings):
    settings.SITE_URL = "https://share.example.org"  # the panel's URL is the one emails carry
    link = make_link(max_uses=3, password="pass-word-1", email="guest@example.net")
    body = login(owner).get(study_page(study, worklist)).content.decode()
    assert 'href="#guest-links"' in body and "Guest links" in body
    assert 'id="guest-links"' in body and "New guest link" in body
    assert f'action="{create_url(worklist, study)}"' in body
    for name in (
        "max_uses",
        "expires",
        "expires_custom",
        "password",
        "max_password_attempts",
        "password_is_dob",
        "email",
        "message",
        "mobile",
        "notify_on_view",
        "include_priors",
    ):
        assert f'name="gl-{name}"' in body, name
    for preset in ("1 hour", "24 hours", "7 days", "30 days", "Custom date and time"):
        assert preset in body
    assert f"https://share.example.org/g/{link.token}/" in body and "Copy" in body
    assert "Active" in body and "0 of 3" in body and "guest@example.net" in body
    assert delete_url(link) in body and "js/guestlinks.js" in body


def test_seven_days_is_the_default_expiry(login, owner, study, worklist):
    body = login(owner).get(study_page(study, worklist)).content.decode()
    assert 'value="7d" id="id_gl-expires_2" required checked>' in body
    assert body.count(" checked>") == 1


def test_read_only_member_sees_no_panel(login, read_only, study, worklist, make_link):
    make_link()
    body = login(read_only).get(study_page(study, worklist)).content.decode()
    assert 'id="guest-links"' not in body and 'href="#guest-links"' not in body


def test_view_permission_lists_without_form_or_delete(login, study, worklist, make_link):
    link = make_link()
    viewer = user_with(worklist, "view_guest_links")
    body = login(viewer).get(study_page(study, worklist)).content.decode()
    assert 'href="#guest-links"' in body and link.token in body
    assert "New guest link" not in body and 'name="gl-password"' not in body
    assert delete_url(link) not in body


def test_create_permission_alone_lists_only_ones_own_links(login, study, worklist, make_link):
    someone_elses = make_link()
    creator = user_with(worklist, "create_guest_links")
    mine = services.guestlink_create(actor=creator, study=study, worklist=worklist)
    body = login(creator).get(study_page(study, worklist)).content.decode()
    assert "New guest link" in body
    assert mine.token in body and someone_elses.token not in body
    assert delete_url(mine) in body


def test_birth_date_option_unavailable_with_reason(login, owner, worklist):
    study = StudyFactory(patient_birth_date=None)
    add_to_worklist(study, worklist)
    body = login(owner).get(study_page(study, worklist)).content.decode()
    assert "Unavailable: this study has no patient birth date." in body
    checkbox = body[
        body.index('name="gl-password_is_dob"') - 40 : body.index('name="gl-password_is_dob"') + 120
    ]
    assert "disabled" in checkbox


def test_states_uses_and_last_opened_are_listed(client, login, owner, study, worklist, make_link):
    active = make_link(max_uses=5)
    open_link(
        client,
        active,
        HTTP_USER_AGENT="Mozilla/5.0 (Windows NT 10.0) Firefox/128.0",
        REMOTE_ADDR="203.0.113.9",
    )
    expired, used_up, locked, deleted = (make_link(max_uses=1) for _ in range(4))
    GuestLink.objects.filter(pk=expired.pk).update(expires_at=timezone.now())
    GuestLink.objects.filter(pk=used_up.pk).update(use_count=1)
    GuestLink.objects.filter(pk=locked.pk).update(locked_at=timezone.now())
    services.guestlink_delete(actor=owner, link=deleted)
    body = login(owner).get(study_page(study, worklist)).content.decode()
    for label in ("Active", "Expired", "Used up", "Locked after failed attempts", "Deleted"):
        assert label in body, label
    assert "1 of 5" in body
    assert "from 203.0.113.9 (Firefox on Windows)" in body
    assert "Recent attempts (1)" in body
    assert deleted.token not in body  # a deleted link's URL is not offered for copying
    assert delete_url(deleted) not in body


def test_the_study_page_costs_a_fixed_number_of_queries(
    client, login, owner, study, worklist, make_link
):
    def count():
        logged_in = login(owner)
        logged_in.get(study_page(study, worklist))  # warm caches (content types, sessions)
        with CaptureQueriesContext(connection) as queries:
            assert logged_in.get(study_page(study, worklist)).status_code == 200
        return len(queries)

    link = make_link(email="a@example.net")
    open_link(client, link)
    one = count()
    for _ in range(6):
        open_link(client, make_link(max_uses=2))
    assert count() == one


# --- create ------------------------------------------------------------------------------


def test_create_with_every_option(login, owner, study, worklist):
    response = login(owner).post(
        create_url(worklist, study),
        {
            "gl-max_uses": "4",
            "gl-expires": "custom",
            "gl-expires_custom": (timezone.localtime() + datetime.timedelta(days=2)).strftime(
                "%Y-%m-%dT%H:%M"
            ),
            "gl-password": "pass-word-1",
            "gl-max_password_attempts": "3",
            "gl-password_is_dob": "on",
            "gl-email": "guest@example.net",
            "gl-message": "See you Tuesday.",
            "gl-mobile": "07911 123456",
            "gl-notify_on_view": "on",
            "gl-include_priors": "on",
        },
    )
    assert response.status_code == 302
    assert response["Location"] == study_page(study, worklist) + "#guest-links"
    link = GuestLink.objects.get()
    assert link.created_by == owner and link.max_uses == 4
    assert abs(
        link.expires_at - (timezone.now() + datetime.timedelta(days=2))
    ) < datetime.timedelta(minutes=2)
    assert link.password_kind == "password" and link.max_password_attempts == 3
    assert link.email == "guest@example.net" and link.message == "See you Tuesday."
    assert str(link.mobile) == "+447911123456"
    assert link.notify_on_view and link.include_priors
    assert {m.channel for m in outbox("guestlink_invite")} == {"email", "sms"}


@pytest.mark.parametrize(
    ("preset", "delta"),
    [
        ("1h", datetime.timedelta(hours=1)),
        ("24h", datetime.timedelta(hours=24)),
        ("7d", datetime.timedelta(days=7)),
        ("30d", datetime.timedelta(days=30)),
    ],
)
def test_expiry_presets(login, owner, study, worklist, preset, delta):
    login(owner).post(create_url(worklist, study), {**FORM, "gl-expires": preset})
    link = GuestLink.objects.get()
    assert abs(link.expires_at - (timezone.now() + delta)) < datetime.timedelta(minutes=1)


def test_blank_max_uses_is_unlimited_and_blank_attempts_default(login, owner, study, worklist):
    login(owner).post(create_url(worklist, study), {"gl-expires": "7d", "gl-password_is_dob": "on"})
    link = GuestLink.objects.get()
    assert link.max_uses is None and link.max_password_attempts == 5
    assert link.password_kind == "birth_date"


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"gl-expires": "custom"}, "Choose the date and time the link expires."),
        (
            {"gl-expires": "custom", "gl-expires_custom": "2001-01-01T10:00"},
            "The expiry must be in the future.",
        ),
        ({"gl-password": "abc"}, "Ensure this value has at least 6 characters"),
        ({"gl-message": "Hello"}, "Add an email address to send the message to."),
        ({"gl-mobile": "12"}, "Enter a valid phone number"),
        ({"gl-max_uses": "0"}, "Ensure this value is greater than or equal to 1."),
        ({"gl-expires": "forever"}, "Select a valid choice."),
    ],
)
def test_bad_input_gets_a_clear_400(login, owner, study, worklist, data, error):
    response = login(owner).post(create_url(worklist, study), {**FORM, **data})
    assert response.status_code == 400
    assert error in response.content.decode()
    assert not GuestLink.objects.exists() and outbox() == []


def test_service_errors_show_on_the_form(login, owner, worklist):
    study = StudyFactory(patient_birth_date=None)
    add_to_worklist(study, worklist)
    # The disabled checkbox ignores a forged "on", so the service makes a password-less link...
    login(owner).post(create_url(worklist, study), {**FORM, "gl-password_is_dob": "on"})
    assert GuestLink.objects.get().password_kind == "none"


def test_create_permissions_and_methods(
    client, login, study, worklist, member, read_only, outsider
):
    url = create_url(worklist, study)
    assert client.post(url, FORM).status_code == 302  # anonymous: to the login page
    assert login(outsider).post(url, FORM).status_code == 404
    assert login(member).post(url, FORM).status_code == 403
    assert login(read_only).post(url, FORM).status_code == 403
    assert login(user_with(worklist, "view_guest_links")).post(url, FORM).status_code == 403
    creator = user_with(worklist, "create_guest_links")
    assert login(creator).put(url, FORM).status_code == 405
    assert login(creator).post(url, FORM).status_code == 302
    assert GuestLink.objects.get().created_by == creator


def test_coming_back_to_a_form_error_page_goes_to_the_panel(
    login, study, worklist, read_only, outsider
):
    """Back or reload after a form error GETs the URL the form was posted to."""
    creator = user_with(worklist, "create_guest_links")
    url = create_url(worklist, study)
    assert login(creator).post(url, {**FORM, "gl-mobile": "not a number"}).status_code == 400
    response = login(creator).get(url)
    assert response.status_code == 302
    assert response["Location"] == study_page(study, worklist) + "#guest-links"
    assert not GuestLink.objects.exists()
    assert login(outsider).get(url).status_code == 404
    assert login(read_only).get(url).status_code == 403


def test_create_for_a_study_not_in_the_worklist_is_404(login, owner, worklist):
    assert login(owner).post(create_url(worklist, StudyFactory()), FORM).status_code == 404


# --- delete ------------------------------------------------------------------------------


def test_delete_from_the_panel(client, login, owner, study, worklist, make_link):
    link = make_link()
    guest = client.__class__()
    open_link(guest, link)
    response = login(owner).post(delete_url(link))
    assert response.status_code == 302
    assert response["Location"] == study_page(study, worklist) + "#guest-links"
    assert GuestLink.objects.get(pk=link.pk).deleted_at is not None
    assert guest.get(reverse("guestlinks:viewer", args=[study.public_id])).status_code == 404
    assert guest.get(link.get_absolute_url()).status_code == 404


def test_delete_permissions_and_methods(client, login, study, worklist, read_only, outsider):
    creator = user_with(worklist, "create_guest_links")
    link = services.guestlink_create(actor=creator, study=study, worklist=worklist)
    url = delete_url(link)
    assert client.post(url).status_code == 302 and "login" in client.post(url)["Location"]
    assert login(outsider).post(url).status_code == 404
    assert login(read_only).post(url).status_code == 403
    assert login(user_with(worklist, "view_guest_links")).post(url).status_code == 403
    assert login(creator).get(url).status_code == 405
    assert GuestLink.objects.get(pk=link.pk).deleted_at is None
    assert login(creator).post(url).status_code == 302
    assert GuestLink.objects.get(pk=link.pk).deleted_at is not None
    colleague_link = services.guestlink_create(actor=creator, study=study, worklist=worklist)
    assert (
        login(user_with(worklist, "create_guest_links"))
        .post(delete_url(colleague_link))
        .status_code
        == 302
    )
    assert (
        login(owner_of_nothing := UserFactory()).post(delete_url(colleague_link)).status_code == 404
    )
    assert owner_of_nothing.pk
    assert (
        login(creator)
        .post(reverse("guestlinks:delete", args=["00000000-0000-0000-0000-000000000000"]))
        .status_code
        == 404
    )


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"gl-message": "pw is 19700517"}, "birth date out of the message"),
        (
            {"gl-message": "The password is pass-word-1", "gl-password": "pass-word-1"},
            "password out of the message",
        ),
    ],
)
def test_message_with_a_secret_is_refused_next_to_the_field(
    login, owner, study, worklist, data, error
):
    form = {**FORM, "gl-email": "guest@example.net", **data}
    response = login(owner).post(create_url(worklist, study), form)
    assert response.status_code == 400
    body = response.content.decode()
    assert '<p class="error" id="id_gl-message_error" role="alert">Take the' in body
    assert error in body
    assert not GuestLink.objects.exists() and outbox() == []


def test_a_form_error_keeps_the_typed_password(login, owner, study, worklist):
    """Password and an invalid mobile, Create; fix the mobile, Create: the link has the
    password (the error page gave it back, on a page no browser or proxy stores)."""
    import re

    client = login(owner)
    typed = {**FORM, "gl-password": "blue-heron-42", "gl-mobile": "12", "gl-email": "g@example.net"}
    response = client.post(create_url(worklist, study), typed)
    assert response.status_code == 400
    assert "no-store" in response["Cache-Control"] and "private" in response["Cache-Control"]
    body = response.content.decode()
    assert 'id="id_gl-mobile_error"' in body
    [field] = re.findall(r'<input type="password" name="gl-password"[^>]*>', body)
    assert 'value="blue-heron-42"' in field
    assert not GuestLink.objects.exists() and outbox() == []

    # What the browser sends back from that page, with the mobile corrected.
    [kept] = re.findall(r'value="([^"]*)"', field)
    resent = {**typed, "gl-password": kept, "gl-mobile": "+447911123456"}
    assert client.post(create_url(worklist, study), resent).status_code == 302
    link = GuestLink.objects.get()
    assert link.password_kind == "password" and link.password_hash
    assert services._password_matches(link, "blue-heron-42")
