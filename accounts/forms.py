"""Login forms for the site and for Django admin, both behind the login throttle."""

from typing import Any

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError

from .services import LoginAttempt, login_attempt_password_was_right, login_attempt_start


class LoginForm(AuthenticationForm):
    """Counts the attempt before Django checks the password, and refuses it over a limit.

    `login_attempt` tells the view whether it was refused (429, or 503 when it could not be
    counted) and for how long.
    """

    login_attempt: LoginAttempt | None = None

    def clean(self) -> dict[str, Any]:
        username = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if username is None or not password:  # the fields' own errors say what is missing
            return super().clean()
        attempt = login_attempt_start(username=username, request=self.request)
        self.login_attempt = attempt
        if attempt.refused:
            raise ValidationError(attempt.message, code="throttled")
        try:
            return super().clean()
        finally:
            # A right password (even of an account that may not log in here, such as a
            # clinician at the admin login) is not a failure, so it does not count.
            if self.user_cache is not None:
                login_attempt_password_was_right(attempt)


class AdminLoginForm(LoginForm, AdminAuthenticationForm):
    """The admin's form (staff accounts only, its own messages), behind the same throttle."""


class ApiTokenForm(forms.Form):
    name = forms.CharField(
        max_length=100, help_text="What the token is for, e.g. OHIF viewer or the PACS bridge."
    )
