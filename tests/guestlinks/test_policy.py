"""An organisation's guest-link policy: the defaults change nothing, the services refuse what it
forbids (whatever a form or a crafted request sends), the panel offers only what it allows, and
an administrator sets it in Django admin."""

import datetime

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from guestlinks import services
from guestlinks.models import GuestLink, GuestLinkPolicy
from guestlinks.policy import check_link_options, link_organisation, policy_for
from tests.factories import OrganisationFactory, UserFactory, WorklistFactory
from worklists.models import Worklist

pytestmark = pytest.mark.django_db


@pytest.fixture
def policy(organisation):
    return GuestLinkPolicy.objects.create(organisation=organisation)


def set_policy(policy, **values):
    for name, value in values.items():
        setattr(policy, name, value)
    policy.full_clean()
    policy.save()


def in_days(days):
    return timezone.now() + datetime.timedelta(days=days)


# --- check_link_options ------------------------------------------------------------------


def test_defaults_allow_what_links_could_always_do(organisation):
    check_link_options(
        organisation=organisation,
        expires_at=in_days(366) - datetime.timedelta(minutes=1),
        max_uses=None,
        password="",
        password_is_dob=True,
        max_password_attempts=20,
        email="a@example.net",
        mobile="+447911123456",
        allow_download=True,
        one_time_code=False,
    )
    assert policy_for(organisation).pk is None  # nothing stored for it


@pytest.mark.parametrize(
    "values, options, field, words",
    [
        ({"max_expiry_days": 7}, {"expires_at": in_days(8)}, "expires_at", "at most 7 days"),
        ({"max_uses_limit": 3}, {"max_uses": 4}, "max_uses", "at most 3 uses"),
        ({"max_uses_limit": 3}, {"max_uses": None}, "max_uses", "at most 3 uses"),
        (
            {"max_password_attempts_limit": 3},
            {"max_password_attempts": 5},
            "max_password_attempts",
            "at most 3 password attempts",
        ),
        ({"require_password": True}, {"password": ""}, "password", "requires a password"),
        (
            {"min_password_length": 12},
            {"password": "short-pass1"},
            "password",
            "at least 12 characters",
        ),
        (
            {"allow_birth_date_password": False},
            {"password": "", "password_is_dob": True},
            "password_is_dob",
            "does not allow the birth date",
        ),
        ({"allow_email": False}, {"email": "a@example.net"}, "email", "by email"),
        ({"allow_sms": False}, {"mobile": "+447911123456"}, "mobile", "by SMS"),
        ({"allow_downloads": False}, {"allow_download": True}, "allow_download", "downloads"),
        (
            {"require_second_factor": True},
            {"one_time_code": False},
            "one_time_code",
            "one-time code",
        ),
    ],
)
def test_each_limit_is_refused_with_a_clear_message(
    organisation, policy, values, options, field, words
):
    set_policy(policy, **values)
    with pytest.raises(ValidationError) as error:
        check_link_options(organisation=organisation, **options)
    assert words in " ".join(error.value.message_dict[field])


def test_a_required_password_may_be_the_birth_date_where_allowed(organisation, policy):
    set_policy(policy, require_password=True)
    check_link_options(organisation=organisation, password="", password_is_dob=True)
    check_link_options(organisation=organisation, password="long-enough")


def test_options_not_given_are_not_checked(organisation, policy):
    set_policy(policy, require_password=True, require_second_factor=True, max_uses_limit=2)
    check_link_options(organisation=organisation, email="a@example.net")
    with pytest.raises(TypeError):
        check_link_options(organisation=organisation, colour="blue")


def test_a_second_factor_needs_a_channel(policy):
    policy.require_second_factor = True
    policy.allow_email = policy.allow_sms = False
    with pytest.raises(ValidationError):
        policy.full_clean()


def test_the_policy_of_a_personal_worklist_is_its_owners_organisation(organisation):
    user = UserFactory(organisation=organisation)
    personal = Worklist.objects.get(owner=user, kind="personal")
    personal.organisation = None  # as a personal worklist may be
    assert link_organisation(worklist=personal) == organisation
    other = OrganisationFactory(name="Other")
    orphan = WorklistFactory(organisation=None, kind="group", name="Loose")
    assert link_organisation(worklist=orphan, actor=UserFactory(organisation=other)) == other


# --- through the services ----------------------------------------------------------------


def test_create_refuses_what_the_policy_forbids(owner, study, worklist, policy):
    set_policy(policy, require_password=True, allow_sms=False, max_uses_limit=5)
    with pytest.raises(ValidationError) as error:
        services.guestlink_create(
            actor=owner, study=study, worklist=worklist, mobile="+447911123456"
        )
    assert set(error.value.message_dict) == {"password", "mobile", "max_uses"}
    assert not GuestLink.objects.exists()
    link = services.guestlink_create(
        actor=owner, study=study, worklist=worklist, password="long-enough", max_uses=5
    )
    assert link.max_uses == 5


def test_create_keeps_its_own_errors_beside_the_policys(owner, study, worklist, policy):
    set_policy(policy, min_password_length=20)
    with pytest.raises(ValidationError) as error:
        services.guestlink_create(actor=owner, study=study, worklist=worklist, password="abc")
    messages = error.value.message_dict["password"]
    assert any("6 to 128" in m for m in messages)
    assert any("at least 20" in m for m in messages)


def test_update_refuses_what_the_policy_forbids(owner, make_link, policy):
    link = make_link(email="a@example.net")
    set_policy(
        policy,
        max_expiry_days=3,
        max_uses_limit=5,
        max_password_attempts_limit=4,
        allow_email=False,
        allow_sms=False,
    )
    for changes in (
        {"expires_at": in_days(4)},
        {"max_uses": 6},
        {"max_password_attempts": 6},
        {"email": "b@example.net"},
        {"mobile": "+447911123456"},
    ):
        with pytest.raises(ValidationError) as error:
            services.guestlink_update(actor=owner, link=link, **changes)
        assert set(error.value.message_dict) == set(changes)
    # What does not change is not held against the link: it was made before the policy.
    services.guestlink_update(actor=owner, link=link, message="Still here.")
    services.guestlink_update(actor=owner, link=link, email="", message="")  # removing is fine
    assert GuestLink.objects.get(pk=link.pk).email == ""


# --- the panel and crafted requests ------------------------------------------------------


def study_page(study, worklist):
    return reverse("studies:detail", args=[study.public_id]) + f"?worklist={worklist.public_id}"


def test_the_panel_offers_only_what_the_policy_allows(login, owner, study, worklist, policy):
    set_policy(
        policy,
        require_password=True,
        allow_birth_date_password=False,
        min_password_length=10,
        max_expiry_days=2,
        max_uses_limit=4,
        max_password_attempts_limit=3,
        allow_sms=False,
    )
    body = login(owner).get(study_page(study, worklist)).content.decode()
    assert 'name="gl-mobile"' not in body
    assert 'name="gl-password_is_dob"' not in body
    assert 'name="gl-email"' in body
    assert 'value="24h"' in body and 'value="7d"' not in body and 'value="30d"' not in body
    assert 'minlength="10"' in body
    assert "Your organisation's rules for guest links" in body
    for words in (
        "Every link needs a password.",
        "The birth date may not be the password.",
        "Passwords have at least 10 characters.",
        "Links last at most 2 days.",
        "Links open at most 4 times.",
        "At most 3 password attempts.",
        "Links are not sent by SMS.",
    ):
        assert words in body


def test_no_rules_shown_under_the_defaults(login, owner, study, worklist):
    body = login(owner).get(study_page(study, worklist)).content.decode()
    assert "rules for guest links" not in body and 'name="gl-mobile"' in body


def test_a_crafted_post_past_the_form_is_refused(login, owner, study, worklist, policy):
    set_policy(policy, allow_sms=False, max_expiry_days=2, allow_birth_date_password=False)
    url = reverse("guestlinks:create", args=[worklist.public_id, study.public_id])
    client = login(owner)
    response = client.post(
        url,
        {
            "gl-expires": "30d",
            "gl-max_password_attempts": "5",
            "gl-mobile": "+447911123456",
            "gl-password_is_dob": "on",
        },
    )
    assert response.status_code == 400
    assert not GuestLink.objects.exists()
    # A custom date past the limit gets through the form and is refused by the service.
    far = (timezone.localtime() + datetime.timedelta(days=5)).strftime("%Y-%m-%dT%H:%M")
    response = client.post(
        url,
        {"gl-expires": "custom", "gl-expires_custom": far, "gl-max_password_attempts": "5"},
    )
    assert response.status_code == 400
    assert "at most 2 days" in response.content.decode()
    assert not GuestLink.objects.exists()


def test_a_crafted_edit_is_refused(login, owner, make_link, policy):
    link = make_link()
    set_policy(policy, max_uses_limit=3, allow_sms=False)
    url = reverse("guestlinks:edit", args=[link.public_id])
    response = login(owner).post(
        url, {"max_uses": "50", "max_password_attempts": "5", "mobile": "+447911123456"}
    )
    assert response.status_code == 400
    link.refresh_from_db()
    assert link.max_uses is None and not link.mobile


# --- Django admin -------------------------------------------------------------------------


def test_an_administrator_sets_a_policy_in_admin(client, organisation):
    admin = UserFactory(username="root", is_staff=True, is_superuser=True)
    client.force_login(admin)
    add = reverse("admin:guestlinks_guestlinkpolicy_add")
    assert client.get(add).status_code == 200
    response = client.post(
        add,
        {
            "organisation": organisation.pk,
            "require_password": "on",
            "allow_birth_date_password": "on",
            "min_password_length": "8",
            "max_expiry_days": "14",
            "max_uses_limit": "10",
            "max_password_attempts_limit": "5",
            "allow_email": "on",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    policy = GuestLinkPolicy.objects.get(organisation=organisation)
    assert (policy.require_password, policy.allow_sms, policy.allow_downloads) == (
        True,
        False,
        False,
    )
    assert policy_for(organisation).max_expiry_days == 14
    listing = client.get(reverse("admin:guestlinks_guestlinkpolicy_changelist"))
    assert organisation.name in listing.content.decode()
    # Out of range values are refused with a message, not stored.
    change = reverse("admin:guestlinks_guestlinkpolicy_change", args=[policy.pk])
    response = client.post(
        change,
        {
            "organisation": organisation.pk,
            "min_password_length": "3",
            "max_expiry_days": "400",
            "max_password_attempts_limit": "50",
            "require_second_factor": "on",
        },
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert "errornote" in body and "allow at least one of them" in body
    assert GuestLinkPolicy.objects.get(pk=policy.pk).max_expiry_days == 14


def test_shape_form_forces_a_required_second_factor_and_drops_downloads(policy):
    """The options another part of this round adds to the panel's form (`one_time_code`,
    `allow_download`), shaped by the policy as soon as the form has them."""
    from django import forms

    from guestlinks.policy import shape_form

    class Options(forms.Form):
        one_time_code = forms.BooleanField(required=False)
        allow_download = forms.BooleanField(required=False)

    set_policy(policy, require_second_factor=True, allow_downloads=False)
    form = Options({"one_time_code": ""})
    shape_form(form, policy)
    assert "allow_download" not in form.fields
    assert form.is_valid() and form.cleaned_data["one_time_code"] is True


# --- the one-time code and downloads, at creation and on edit ----------------------------


def test_create_refuses_a_download_the_policy_forbids(policy, make_link):
    set_policy(policy, allow_downloads=False)
    with pytest.raises(ValidationError) as error:
        make_link(allow_download=True, email="r@example.org")
    assert "allow_download" in error.value.message_dict
    assert make_link(allow_download=False).allow_download is False


def test_create_refuses_a_link_without_the_required_code(policy, make_link):
    set_policy(policy, require_second_factor=True)
    with pytest.raises(ValidationError) as error:
        make_link(email="r@example.org", one_time_code=False)
    assert "one_time_code" in error.value.message_dict
    assert make_link(email="r@example.org", one_time_code=True).one_time_code


def test_update_turns_the_options_on_and_off_within_the_policy(policy, owner, make_link):
    link = make_link(email="r@example.org")
    services.guestlink_update(actor=owner, link=link, one_time_code=True, allow_download=True)
    link.refresh_from_db()
    assert link.one_time_code and link.allow_download
    set_policy(policy, allow_downloads=False, require_second_factor=True)
    with pytest.raises(ValidationError) as error:
        services.guestlink_update(actor=owner, link=link, one_time_code=False)
    assert "one_time_code" in error.value.message_dict
    services.guestlink_update(actor=owner, link=link, allow_download=False)
    link.refresh_from_db()
    assert link.one_time_code and not link.allow_download
    with pytest.raises(ValidationError) as error:
        services.guestlink_update(actor=owner, link=link, allow_download=True)
    assert "allow_download" in error.value.message_dict


def test_update_keeps_a_recipient_for_the_code(owner, make_link):
    link = make_link(email="r@example.org", one_time_code=True)
    with pytest.raises(ValidationError) as error:
        services.guestlink_update(actor=owner, link=link, email="")
    assert "one_time_code" in error.value.message_dict
    assert GuestLink.objects.get(pk=link.pk).email == "r@example.org"


def test_unlock_resets_wrong_codes_too(owner, make_link):
    link = make_link(email="r@example.org", one_time_code=True)
    GuestLink.objects.filter(pk=link.pk).update(code_failures=5, locked_at=timezone.now())
    services.guestlink_update(actor=owner, link=GuestLink.objects.get(pk=link.pk), unlock=True)
    link.refresh_from_db()
    assert (link.locked_at, link.code_failures, link.password_failures) == (None, 0, 0)
