import re
import subprocess
import sys

import pytest
from django.core import mail
from django.urls import reverse

from audit.models import AuditEvent
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

# Strong enough for production mode (see tests/test_production_settings.py).
STRONG_KEY = "tests-only-0123456789-abcdefghijklmnopqrstuvwxyz-ABCDEFGH"


def test_login_is_audited_and_lands_on_the_worklists(client, read_only):
    response = client.post(
        reverse("accounts:login"), {"username": "readonly", "password": PASSWORD}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("worklists:home")
    assert AuditEvent.objects.filter(action="login", actor=read_only).count() == 1


def test_failed_login_is_audited_without_the_password(client, read_only):
    response = client.post(
        reverse("accounts:login"), {"username": "readonly", "password": "nope-123"}
    )
    assert response.status_code == 200
    assert "didn't match" in response.content.decode()
    event = AuditEvent.objects.get(action="login_failed")
    assert event.outcome == "failure"
    assert event.details == {"username": "readonly"}
    assert "nope-123" not in str(event.details)


def test_logout_needs_post_and_is_audited(client, read_only):
    client.force_login(read_only)
    assert client.get(reverse("accounts:logout")).status_code == 405
    response = client.post(reverse("accounts:logout"))
    assert response.status_code == 302
    assert AuditEvent.objects.filter(action="logout", actor=read_only).exists()


def test_passwords_are_hashed_with_argon2(read_only):
    assert read_only.password.startswith("argon2$")


def test_password_reset_by_email_end_to_end(client, read_only):
    response = client.post(reverse("accounts:password_reset"), {"email": read_only.email})
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [read_only.email]
    link = re.search(r"https?://[^/]+(/accounts/reset/\S+/)", message.body).group(1)
    form_page = client.get(link, follow=True)
    assert form_page.status_code == 200
    set_url = form_page.redirect_chain[-1][0]
    response = client.post(
        set_url, {"new_password1": "a-New-pass-2024!", "new_password2": "a-New-pass-2024!"}
    )
    assert response.status_code == 302
    read_only.refresh_from_db()
    assert read_only.check_password("a-New-pass-2024!")


def test_password_reset_for_an_unknown_address_sends_nothing_and_says_the_same(client):
    response = client.post(reverse("accounts:password_reset"), {"email": "nobody@example.org"})
    assert response.status_code == 302
    assert mail.outbox == []


def test_times_are_shown_in_the_organisations_time_zone(client, organisation):
    from django.template import Context, Template
    from django.test import RequestFactory
    from django.utils import timezone

    organisation.time_zone = "Australia/Sydney"
    organisation.save()
    user = UserFactory(organisation=organisation)
    client.force_login(user)
    response = client.get(reverse("worklists:home"), follow=True)
    assert response.status_code == 200
    # The middleware activated the zone for that request; check it directly on a request too.
    from accounts.middleware import OrganisationTimezoneMiddleware

    request = RequestFactory().get("/")
    request.user = user
    seen = {}

    def view(req):
        seen["zone"] = timezone.get_current_timezone_name()
        return Template("{{ now|date:'e' }}").render(Context({"now": timezone.now()}))

    OrganisationTimezoneMiddleware(view)(request)
    assert seen["zone"] == "Australia/Sydney"


@pytest.mark.parametrize(
    "env, message",
    [
        ({"DJANGO_DEBUG": "0", "ALLOWED_HOSTS": "x.org"}, "SECRET_KEY"),
        ({"DJANGO_DEBUG": "0", "SECRET_KEY": STRONG_KEY}, "ALLOWED_HOSTS"),
    ],
)
def test_production_mode_refuses_to_start_without_secrets(env, message):
    import os

    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in {"SECRET_KEY", "ALLOWED_HOSTS", "DJANGO_DEBUG"}
    }
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env={**clean, **env, "DJANGO_SETTINGS_MODULE": "cimar_share.settings"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and message in result.stderr


@pytest.mark.parametrize(
    "env, secure",
    [
        ({"SITE_URL": "https://share.example.org"}, "True"),
        ({"SITE_URL": "http://127.0.0.1:8000"}, "False"),
        ({"SITE_URL": "http://127.0.0.1:8000", "SECURE_COOKIES": "1"}, "True"),
        ({"SITE_URL": "https://share.example.org", "SECURE_COOKIES": "0"}, "False"),
    ],
)
def test_cookies_are_secure_when_the_site_is_https(env, secure):
    import os

    clean = {k: v for k, v in os.environ.items() if k not in {"SITE_URL", "SECURE_COOKIES"}}
    code = "from django.conf import settings; print(settings.SESSION_COOKIE_SECURE)"
    result = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        env={
            **clean,
            **env,
            "DJANGO_DEBUG": "0",
            "SECRET_KEY": STRONG_KEY,
            "ALLOWED_HOSTS": "x.org",
            "DJANGO_SETTINGS_MODULE": "cimar_share.settings",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.stdout.strip() == secure, result.stderr
