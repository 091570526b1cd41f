"""Every page, of every kind (clinician, guest, upload link, admin, login, errors), sends the
same hardened headers: one Content-Security-Policy without inline script, nosniff, COOP, and
never stored (no-store). Static files stay cacheable. Cookies carry __Host- over https."""

import pytest
from django.test import Client
from django.urls import reverse

from guestlinks import services as guestlink_services
from tests.factories import UserFactory
from uploadlinks import services as uploadlink_services

PASSWORD = "open sesame 42"


def policy(response) -> dict[str, set[str]]:  # type: ignore[no-untyped-def]
    header = response["Content-Security-Policy"]
    directives = {}
    for part in header.split(";"):
        name, *values = part.split()
        directives[name] = set(values)
    return directives


def assert_hardened(response, *, admin: bool = False) -> None:  # type: ignore[no-untyped-def]
    where = f"{response.request['PATH_INFO']} ({response.status_code})"
    csp = policy(response)
    assert csp["script-src"] == {"'self'"}, where  # no inline script, no eval, nowhere
    assert csp["default-src"] == {"'self'"}, where
    assert csp["object-src"] == {"'none'"}, where
    assert csp["base-uri"] == {"'none'"}, where
    assert csp["frame-ancestors"] == {"'none'"}, where
    assert csp["connect-src"] == {"'self'"} and csp["form-action"] == {"'self'"}, where
    # Inline styles: Django admin's own templates only.
    expected_style = {"'self'", "'unsafe-inline'"} if admin else {"'self'"}
    assert csp["style-src"] == expected_style, where
    assert response["X-Content-Type-Options"] == "nosniff", where
    assert response["Cross-Origin-Opener-Policy"] == "same-origin", where
    assert "no-store" in response["Cache-Control"], where
    assert "public" not in response["Cache-Control"], where


@pytest.fixture
def guest_link(owner, study, worklist):
    return guestlink_services.guestlink_create(
        actor=owner, study=study, worklist=worklist, password=PASSWORD
    )


@pytest.fixture
def upload_link(owner, worklist):
    return uploadlink_services.uploadlink_create(actor=owner, worklist=worklist, password=PASSWORD)


def test_anonymous_pages_and_errors(client, db):
    for url, status in [
        (reverse("accounts:login"), 200),
        (reverse("accounts:password_reset"), 200),
        ("/no-such-page/", 404),
        (reverse("accounts:api_tokens"), 302),  # to the login page
    ]:
        response = client.get(url)
        assert response.status_code == status, url
        assert_hardened(response)
    refused = client.post(reverse("accounts:logout_everywhere"))
    assert refused.status_code == 302
    assert_hardened(client.get(reverse("accounts:logout"), follow=False))  # 405


def test_clinician_pages(login, owner, study, worklist):
    client = login(owner)
    for url in [
        reverse("worklists:home"),
        reverse("worklists:detail", args=[worklist.public_id]),
        reverse("studies:detail", args=[study.public_id]),
        reverse("studies:viewer", args=[study.public_id]),
        reverse("accounts:api_tokens"),
        reverse("accounts:account"),
        reverse("uploadlinks:manage", args=[worklist.public_id]),
    ]:
        response = client.get(url)
        assert response.status_code in (200, 302), url
        assert_hardened(response)


def test_clinician_refusals(login, outsider, read_only, study, worklist):
    assert_hardened(login(outsider).get(reverse("studies:detail", args=[study.public_id])))  # 404
    forbidden = login(read_only).get(reverse("uploadlinks:manage", args=[worklist.public_id]))
    assert forbidden.status_code in (403, 404)
    assert_hardened(forbidden)


def test_guest_pages(client, guest_link, study):
    gate = client.get(guest_link.get_absolute_url())
    assert gate.status_code == 200
    assert_hardened(gate)
    assert gate["Referrer-Policy"] == "no-referrer"
    wrong = client.post(guest_link.get_absolute_url(), {"password": "wrong"})
    assert_hardened(wrong)
    opened = client.post(guest_link.get_absolute_url(), {"password": PASSWORD})
    assert opened.status_code == 303
    viewer = client.get(opened["Location"])
    assert viewer.status_code == 200
    assert_hardened(viewer)
    assert_hardened(client.get("/g/" + "x" * 43 + "/"))  # a link that does not exist


def test_upload_link_pages(client, upload_link):
    gate = client.get(upload_link.get_absolute_url())
    assert gate.status_code == 200
    assert_hardened(gate)
    opened = client.post(upload_link.get_absolute_url(), {"password": PASSWORD})
    assert opened.status_code == 303
    page = client.get(opened["Location"])
    assert page.status_code == 200
    assert_hardened(page)


def test_admin_pages_allow_inline_styles_only(client, db):
    admin = UserFactory(username="root", is_staff=True, is_superuser=True)
    assert_hardened(client.get(reverse("admin:login")))  # no inline style: the strict policy
    client.force_login(admin)
    for url in [
        reverse("admin:index"),
        reverse("admin:accounts_user_changelist"),
        reverse("admin:accounts_user_change", args=[admin.pk]),
    ]:
        response = client.get(url)
        assert response.status_code == 200, url
        assert_hardened(response, admin=True)


def test_images_carrying_patient_data_are_never_stored(login, owner, worklist):
    from tests.factories import StudyFactory, add_to_worklist, ct_series

    study = StudyFactory()
    add_to_worklist(study, worklist)
    series = ct_series(study, slices=1, size=16)
    instance = series.instances.first()
    url = reverse(
        "dicomweb:frame_rendered",
        kwargs={
            "study": study.study_instance_uid,
            "series": series.series_instance_uid,
            "instance": instance.sop_instance_uid,
            "frame": 1,
        },
    )
    response = login(owner).get(url)
    assert response.status_code == 200
    assert response["Cache-Control"] == "private, no-store"


def test_static_files_stay_cacheable(settings):
    settings.WHITENOISE_USE_FINDERS = True  # read when the client's handler starts
    response = Client().get("/static/css/app.css")
    assert response.status_code == 200
    assert "no-store" not in response.get("Cache-Control", "")


def test_cookies_carry_the_host_prefix_over_https(client, read_only, settings):
    """What the production settings choose over https (tests/test_production_settings.py)."""
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = True
    settings.SESSION_COOKIE_NAME, settings.CSRF_COOKIE_NAME = "__Host-sessionid", "__Host-csrftoken"
    read_only.set_password(PASSWORD)
    read_only.save()
    page = client.get(reverse("accounts:login"), secure=True)
    csrf = page.cookies["__Host-csrftoken"]
    response = client.post(
        reverse("accounts:login"),
        {"username": read_only.username, "password": PASSWORD, "csrfmiddlewaretoken": csrf.value},
        secure=True,
        HTTP_REFERER="https://testserver/accounts/login/",
    )
    assert response.status_code == 302
    for name in ("__Host-sessionid", "__Host-csrftoken"):
        cookie = client.cookies[name]
        # The browser's rules for the prefix: Secure, Path=/ and no Domain.
        assert cookie["secure"] and cookie["path"] == "/" and not cookie["domain"], name
