from datetime import timedelta
from typing import Any

from django import forms
from django.conf import settings
from django.utils import timezone
from phonenumber_field.formfields import PhoneNumberField

from studies.models import Study

from .models import (
    DEFAULT_MAX_PASSWORD_ATTEMPTS,
    MAX_PASSWORD_ATTEMPTS_LIMIT,
    PASSWORD_MAX_LENGTH,
    PASSWORD_MIN_LENGTH,
    GuestLinkPolicy,
)
from .policy import shape_form

EXPIRY_PRESETS = {
    "1h": ("1 hour", timedelta(hours=1)),
    "24h": ("24 hours", timedelta(hours=24)),
    "7d": ("7 days", timedelta(days=7)),
    "30d": ("30 days", timedelta(days=30)),
}
CUSTOM = "custom"
DATETIME_LOCAL = "%Y-%m-%dT%H:%M"


class GuestLinkForm(forms.Form):
    """Every option of a guest link, as the panel on the study page offers them."""

    prefix = "gl"
    expiry_presets = EXPIRY_PRESETS

    max_uses = forms.IntegerField(
        label="Max uses",
        required=False,
        min_value=1,
        max_value=10_000,
        help_text="Leave empty for no limit.",
        widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
    )
    expires = forms.ChoiceField(
        label="Expires after",
        choices=[(key, label) for key, (label, _) in EXPIRY_PRESETS.items()]
        + [(CUSTOM, "Custom date and time")],
        initial="7d",
        widget=forms.RadioSelect,
    )
    expires_custom = forms.DateTimeField(
        label="Custom expiry",
        required=False,
        input_formats=[DATETIME_LOCAL, "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format=DATETIME_LOCAL),
        help_text="Your organisation's local time.",
    )
    password = forms.CharField(
        label="Password",
        required=False,
        strip=False,
        min_length=PASSWORD_MIN_LENGTH,
        max_length=PASSWORD_MAX_LENGTH,
        # Shown again when the form comes back with an error elsewhere (on a page that is never
        # stored): dropping it would let the next press of Create make an unprotected link.
        widget=forms.PasswordInput(render_value=True, attrs={"autocomplete": "new-password"}),
        help_text="Give it to the recipient yourself: it is never sent with the link.",
    )
    max_password_attempts = forms.IntegerField(
        label="Max password attempts",
        required=False,
        min_value=1,
        max_value=MAX_PASSWORD_ATTEMPTS_LIMIT,
        initial=DEFAULT_MAX_PASSWORD_ATTEMPTS,
        help_text="Reaching it locks the link, whatever uses remain.",
        widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
    )
    password_is_dob = forms.BooleanField(
        label="Password is the patient's date of birth (YYYYMMDD)",
        required=False,
        help_text="A password typed above takes precedence.",
    )
    email = forms.EmailField(
        label="Recipient email",
        required=False,
        widget=forms.EmailInput(attrs={"autocomplete": "off"}),
    )
    message = forms.CharField(
        label="Message",
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Goes in the email with the link: never the password or the birth date.",
    )
    mobile = PhoneNumberField(
        label="Recipient mobile",
        required=False,
        region=settings.PHONENUMBER_DEFAULT_REGION,
        widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "off"}),
        help_text="The link goes by SMS. International numbers start with +.",
    )
    notify_on_view = forms.BooleanField(
        label="Email me each time the link is opened", required=False
    )
    include_priors = forms.BooleanField(
        label="Include priors (the patient's earlier studies in this worklist)", required=False
    )
    one_time_code = forms.BooleanField(
        label="Send a one-time code",
        required=False,
        help_text="After the password, the recipient gets a 6-digit code by SMS (or by email "
        "without a mobile number) and types it in; it is valid for 10 minutes.",
    )
    allow_download = forms.BooleanField(
        label="Allow download",
        required=False,
        help_text="The recipient may download the study's DICOM files (a zip that imports like "
        "a CD) and the image on screen as PNG.",
    )

    def __init__(
        self, *args: Any, study: Study, policy: GuestLinkPolicy | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.study = study
        shape_form(self, policy or GuestLinkPolicy())  # only what the organisation allows
        if study.patient_birth_date is None and "password_is_dob" in self.fields:
            field = self.fields["password_is_dob"]
            field.disabled = True
            field.help_text = "Unavailable: this study has no patient birth date."

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if cleaned.get("expires") == CUSTOM:
            custom = cleaned.get("expires_custom")
            if custom is None:
                if "expires_custom" not in self.errors:
                    self.add_error("expires_custom", "Choose the date and time the link expires.")
            elif custom <= timezone.now():
                self.add_error("expires_custom", "The expiry must be in the future.")
        if cleaned.get("message") and not cleaned.get("email"):
            self.add_error("email", "Add an email address to send the message to.")
        if cleaned.get("one_time_code") and not (cleaned.get("email") or cleaned.get("mobile")):
            self.add_error(
                "one_time_code", "Add the recipient's email or mobile: the code is sent there."
            )
        return cleaned

    def expires_at(self) -> Any:
        choice = self.cleaned_data["expires"]
        if choice == CUSTOM:
            return self.cleaned_data["expires_custom"]
        return timezone.now() + EXPIRY_PRESETS[choice][1]

    def service_options(self) -> dict[str, Any]:
        """The keyword options of `guestlink_create`, from a valid form."""
        data = self.cleaned_data
        return {
            "max_uses": data["max_uses"],
            "expires_at": self.expires_at(),
            "password": data["password"],
            "password_is_dob": data.get("password_is_dob", False),
            "max_password_attempts": data["max_password_attempts"] or DEFAULT_MAX_PASSWORD_ATTEMPTS,
            # Fields the organisation's policy takes away are not in the form.
            "email": data.get("email", ""),
            "message": data.get("message", ""),
            "mobile": data.get("mobile") or "",
            "notify_on_view": data["notify_on_view"],
            "include_priors": data["include_priors"],
            "one_time_code": data["one_time_code"],
            "allow_download": data["allow_download"],
        }


class GatePasswordForm(forms.Form):
    password = forms.CharField(
        label="Password",
        strip=False,
        max_length=PASSWORD_MAX_LENGTH,
        widget=forms.PasswordInput(attrs={"autocomplete": "off", "autofocus": True}),
    )


class GateCodeForm(forms.Form):
    code = forms.CharField(
        label="Code",
        max_length=32,
        help_text="6 digits.",
        widget=forms.TextInput(
            attrs={
                "autocomplete": "one-time-code",
                "inputmode": "numeric",
                "autofocus": True,
                "spellcheck": "false",
            }
        ),
    )
