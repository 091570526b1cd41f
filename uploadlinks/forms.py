"""Forms: the clinician's upload-link form, and the uploader's details."""

from datetime import timedelta
from typing import Any

from django import forms
from django.utils import timezone
from phonenumber_field.formfields import PhoneNumberField

from links.models import DEFAULT_MAX_PASSWORD_ATTEMPTS, MAX_PASSWORD_ATTEMPTS_LIMIT

from .models import UploadLink

EXPIRY_CHOICES = [
    ("1d", "1 day"),
    ("7d", "7 days"),
    ("14d", "14 days"),
    ("30d", "30 days"),
    ("90d", "90 days"),
]


class UploadLinkForm(forms.Form):
    label = forms.CharField(
        max_length=100,
        required=False,
        help_text="How uploads through it are named in the worklist, e.g. the sender's name.",
    )
    expires_in = forms.ChoiceField(label="Expires after", choices=EXPIRY_CHOICES, initial="7d")
    max_uses = forms.IntegerField(
        label="Max uploads", min_value=1, required=False, help_text="Empty: no limit."
    )
    password = forms.CharField(
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Optional. Give it to the recipient another way, never with the link.",
    )
    max_password_attempts = forms.IntegerField(
        min_value=1,
        max_value=MAX_PASSWORD_ATTEMPTS_LIMIT,
        initial=DEFAULT_MAX_PASSWORD_ATTEMPTS,
        help_text="Reaching it locks the link.",
    )
    email = forms.EmailField(label="Recipient's email", required=False)
    mobile = PhoneNumberField(label="Recipient's mobile (SMS)", required=False)
    message = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), required=False, max_length=2000
    )
    notify_on_upload = forms.BooleanField(
        label="Notify me when something is uploaded", required=False
    )

    def service_options(self) -> dict[str, Any]:
        data = self.cleaned_data
        days = int(data["expires_in"].rstrip("d"))
        return {
            "label": data["label"],
            "expires_at": timezone.now() + timedelta(days=days),
            "max_uses": data["max_uses"],
            "password": data["password"],
            "max_password_attempts": data["max_password_attempts"],
            "email": data["email"],
            "mobile": data["mobile"] or "",
            "message": data["message"],
            "notify_on_upload": data["notify_on_upload"],
        }


class UploadLinkEditForm(UploadLinkForm):
    expires_in = forms.ChoiceField(
        label="Extend",
        choices=[("", "Keep the current expiry"), *EXPIRY_CHOICES],
        required=False,
    )
    password = forms.CharField(
        label="New password",
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Empty: keep the current one.",
    )
    remove_password = forms.BooleanField(required=False)
    disabled = forms.BooleanField(
        label="Disabled", required=False, help_text="A disabled link opens nothing until enabled."
    )

    @classmethod
    def for_link(cls, link: UploadLink, data: Any = None) -> "UploadLinkEditForm":
        return cls(
            data,
            initial={
                "label": link.label,
                "max_uses": link.max_uses,
                "max_password_attempts": link.max_password_attempts,
                "email": link.email,
                "mobile": link.mobile,
                "message": link.message,
                "notify_on_upload": link.notify_on_upload,
                "disabled": link.disabled_at is not None,
            },
        )

    def changes(self) -> dict[str, Any]:
        data = self.cleaned_data
        changes: dict[str, Any] = {
            "label": data["label"],
            "max_uses": data["max_uses"],
            "max_password_attempts": data["max_password_attempts"],
            "email": data["email"],
            "mobile": data["mobile"] or "",
            "message": data["message"],
            "notify_on_upload": data["notify_on_upload"],
            "disabled": data["disabled"],
        }
        if data["expires_in"]:
            days = int(data["expires_in"].rstrip("d"))
            changes["expires_at"] = timezone.now() + timedelta(days=days)
        if data["remove_password"]:
            changes["password"] = None
        elif data["password"]:
            changes["password"] = data["password"]
        return changes


class GatePasswordForm(forms.Form):
    password = forms.CharField(
        strip=False,
        max_length=256,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )


class UploaderForm(forms.Form):
    name = forms.CharField(label="Your name", max_length=200)
    email = forms.EmailField(label="Your email", required=False)
    note = forms.CharField(
        label="Note for the clinic",
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        max_length=2000,
    )
