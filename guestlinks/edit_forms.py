"""Forms for a guest link over its life (the edit page) and for a recipient asking for a new
one. The panel's creation form is `forms.GuestLinkForm`; these share its field definitions."""

from typing import Any

from django import forms
from django.utils import timezone

from .forms import CUSTOM, EXPIRY_PRESETS, GuestLinkForm
from .models import GuestLink, GuestLinkPolicy
from .policy import shape_form
from .services import ASK_MESSAGE_MAX_LENGTH

KEEP = ""
_BASE = GuestLinkForm.base_fields


class GuestLinkEditForm(forms.Form):
    """What may change on a link: its expiry, limits, recipients and message, and whether it
    is disabled. Unlocking is its own button (`unlock` in the POST)."""

    expiry_presets = EXPIRY_PRESETS

    expires = forms.ChoiceField(
        label="Expiry",
        choices=[(KEEP, "Keep the current expiry")]
        + [(key, f"{label} from now") for key, (label, _) in EXPIRY_PRESETS.items()]
        + [(CUSTOM, "Custom date and time")],
        initial=KEEP,
        required=False,
        widget=forms.RadioSelect,
        help_text="Shorten or extend it: a choice counts from now.",
    )
    expires_custom = _BASE["expires_custom"]
    max_uses = _BASE["max_uses"]
    max_password_attempts = _BASE["max_password_attempts"]
    email = _BASE["email"]
    mobile = _BASE["mobile"]
    message = _BASE["message"]
    one_time_code = _BASE["one_time_code"]
    allow_download = _BASE["allow_download"]
    send = forms.BooleanField(
        label="Send the link to the recipients again",
        required=False,
        help_text="A new or changed email or mobile is always sent the link.",
    )
    disabled = forms.BooleanField(
        label="Disabled",
        required=False,
        help_text="A disabled link opens nothing, also for anyone viewing through it now, "
        "until you enable it again.",
    )

    def __init__(
        self, *args: Any, link: GuestLink, policy: GuestLinkPolicy | None = None, **kwargs: Any
    ) -> None:
        kwargs.setdefault(
            "initial",
            {
                "max_uses": link.max_uses,
                "max_password_attempts": link.max_password_attempts,
                "email": link.email,
                "mobile": link.mobile,
                "message": link.message,
                "one_time_code": link.one_time_code,
                "allow_download": link.allow_download,
                "disabled": link.disabled_at is not None,
            },
        )
        super().__init__(*args, **kwargs)
        self.link = link
        self.fields["max_password_attempts"].required = True
        self.fields["expires_custom"].help_text = "Your organisation's local time."
        shape_form(self, policy or GuestLinkPolicy())
        # A channel the policy forbids: a recipient already there may still be removed.
        for name, label in (("email", "Recipient email"), ("mobile", "Recipient mobile")):
            if name not in self.fields and getattr(link, name):
                self.fields[name] = forms.BooleanField(
                    label=f"Remove the {label.lower()} ({getattr(link, name)})",
                    required=False,
                    help_text="Your organisation no longer sends links this way.",
                )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if cleaned.get("expires") == CUSTOM:
            custom = cleaned.get("expires_custom")
            if custom is None:
                if "expires_custom" not in self.errors:
                    self.add_error("expires_custom", "Choose the date and time the link expires.")
            elif custom <= timezone.now():
                self.add_error("expires_custom", "The expiry must be in the future.")
        return cleaned

    def changes(self) -> dict[str, Any]:
        """The keyword changes of `guestlink_update`, from a valid form (the service keeps
        only those that differ from the link)."""
        data = self.cleaned_data
        changes: dict[str, Any] = {
            "max_uses": data["max_uses"],
            "max_password_attempts": data["max_password_attempts"],
            "disabled": data["disabled"],
            "send": data["send"],
        }
        for name in ("one_time_code", "allow_download"):
            if name in data:  # the policy may have taken the field away
                changes[name] = data[name]
        for name in ("email", "mobile", "message"):
            if name not in data:
                continue
            value = data[name]
            if isinstance(self.fields[name], forms.BooleanField):  # "remove" only
                if value:
                    changes[name] = ""
            else:
                changes[name] = value or ""
        choice = data.get("expires") or KEEP
        if choice == CUSTOM:
            changes["expires_at"] = data["expires_custom"]
        elif choice != KEEP:
            changes["expires_at"] = timezone.now() + EXPIRY_PRESETS[choice][1]
        return changes


class AskNewLinkForm(forms.Form):
    """A recipient at a link that no longer opens asks its creator for a new one."""

    message = forms.CharField(
        label="Message to the person who shared it (optional)",
        required=False,
        max_length=ASK_MESSAGE_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3, "maxlength": ASK_MESSAGE_MAX_LENGTH}),
        help_text="For example who you are and why you need it. Please do not write medical "
        "details here.",
    )
