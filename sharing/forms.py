import re
from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import SetPasswordMixin
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.urls import reverse

from worklists import sharecodes
from worklists.models import Worklist

from . import selectors
from .models import Share
from .services import ShareTarget

MAX_TYPED_TARGETS = 20


def split_codes(text: str) -> list[str]:
    """Share codes separated by commas, semicolons or new lines ('7KQ2 M9XD' stays one code)."""
    return [part.strip() for part in re.split(r"[,;\n]+", text or "") if part.strip()]


def split_addresses(text: str) -> list[str]:
    return [part.strip() for part in re.split(r"[\s,;]+", text or "") if part.strip()]


class ShareForm(forms.Form):
    """The share dialog: only the channels the user may use on the source worklist."""

    organisations = forms.MultipleChoiceField(
        label="Organisations", required=False, widget=forms.CheckboxSelectMultiple
    )
    locations = forms.MultipleChoiceField(
        label="Locations", required=False, widget=forms.CheckboxSelectMultiple
    )
    groups = forms.MultipleChoiceField(
        label="Groups", required=False, widget=forms.CheckboxSelectMultiple
    )
    physicians = forms.MultipleChoiceField(
        label="Physicians", required=False, widget=forms.CheckboxSelectMultiple
    )
    share_codes = forms.CharField(
        label="Share codes",
        required=False,
        max_length=500,
        help_text="Any case, with or without the dash. Separate several with commas.",
        widget=forms.TextInput(
            attrs={"autocomplete": "off", "autocapitalize": "characters", "spellcheck": "false"}
        ),
    )
    emails = forms.CharField(
        label="Email addresses",
        required=False,
        max_length=2000,
        help_text="Separate several with commas or spaces. An address without an account gets an "
        "invitation to register.",
        widget=forms.TextInput(attrs={"type": "text", "inputmode": "email", "autocomplete": "off"}),
    )
    message = forms.CharField(
        label="Message (optional)",
        required=False,
        max_length=2000,
        help_text="Shown with the study in Cimar Share, not in the email.",
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    FIELD_CHANNELS = {
        "organisations": Share.Channel.ORGANISATION,
        "locations": Share.Channel.LOCATION,
        "groups": Share.Channel.GROUP,
        "physicians": Share.Channel.PHYSICIAN,
        "share_codes": Share.Channel.SHARE_CODE,
        "emails": Share.Channel.EMAIL,
    }

    def __init__(self, *args: Any, actor: Any, source_worklist: Worklist, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.actor = actor
        self.channels = selectors.channels_for_user(actor, source_worklist)
        for name, channel in self.FIELD_CHANNELS.items():
            if channel not in self.channels:
                del self.fields[name]
        choices = {
            "organisations": lambda: [
                (str(o.public_id), o.name) for o in selectors.partner_organisations(actor)
            ],
            "locations": lambda: [
                (str(w.public_id), w.name)
                for w in selectors.organisation_worklists(actor, Worklist.Kind.LOCATION)
                if w.pk != source_worklist.pk
            ],
            "groups": lambda: [
                (str(w.public_id), w.name)
                for w in selectors.organisation_worklists(actor, Worklist.Kind.GROUP)
                if w.pk != source_worklist.pk
            ],
            "physicians": lambda: [
                (str(u.public_id), u.display_name) for u in selectors.organisation_physicians(actor)
            ],
        }
        for name, make in choices.items():
            if name in self.fields:
                self.fields[name].choices = make()  # type: ignore[attr-defined]
        if "share_codes" in self.fields:
            lookup = reverse("sharing:share_code_lookup", args=[source_worklist.public_id])
            self.fields["share_codes"].widget.attrs.update(
                {"data-code-lookup": lookup, "aria-controls": "share-code-preview"}
            )

    @property
    def list_fields(self) -> list[forms.BoundField]:
        return [
            self[name]
            for name in ("organisations", "locations", "groups", "physicians")
            if name in self.fields
        ]

    def clean_share_codes(self) -> list[str]:
        codes = split_codes(self.cleaned_data.get("share_codes", ""))
        bad = [code for code in codes if not sharecodes.is_well_formed(sharecodes.normalise(code))]
        if bad:
            raise ValidationError(
                "Not a share code: %(codes)s. Share codes have 8 letters and digits, like "
                "7KQ2-M9XD.",
                params={"codes": ", ".join(bad)},
            )
        if len(codes) > MAX_TYPED_TARGETS:
            raise ValidationError(f"At most {MAX_TYPED_TARGETS} share codes at once.")
        return codes

    def clean_emails(self) -> list[str]:
        addresses = split_addresses(self.cleaned_data.get("emails", ""))
        bad = []
        for address in addresses:
            try:
                validate_email(address)
            except ValidationError:
                bad.append(address)
        if bad:
            raise ValidationError("Not an email address: %(bad)s.", params={"bad": ", ".join(bad)})
        if len(addresses) > MAX_TYPED_TARGETS:
            raise ValidationError(f"At most {MAX_TYPED_TARGETS} addresses at once.")
        return addresses

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if not self.errors and not self.targets():
            raise ValidationError("Choose at least one recipient.")
        return cleaned

    def targets(self) -> list[ShareTarget]:
        targets = []
        for name, channel in self.FIELD_CHANNELS.items():
            for key in self.cleaned_data.get(name) or []:
                targets.append(ShareTarget(channel=channel, key=key))
        return targets

    def code_previews(self) -> list[selectors.ShareCodePreview]:
        """What each typed share code belongs to (for the "Check codes" step without JavaScript)."""
        return [
            selectors.share_code_preview(code, user=self.actor)
            for code in split_codes(self.data.get("share_codes", ""))
        ]


class InvitationRegisterForm(SetPasswordMixin, forms.Form):
    """Registration from an invitation: the address is fixed by the invitation. The two password
    fields and their checks are Django's (`SetPasswordMixin`), with our wording."""

    error_messages = {"password_mismatch": "The two passwords differ."}

    first_name = forms.CharField(
        label="First name",
        max_length=150,
        widget=forms.TextInput(attrs={"autocomplete": "given-name"}),
    )
    last_name = forms.CharField(
        label="Last name",
        max_length=150,
        widget=forms.TextInput(attrs={"autocomplete": "family-name"}),
    )
    password1, password2 = SetPasswordMixin.create_password_fields(label2="Password again")
    password2.help_text = ""

    def __init__(self, *args: Any, email: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.email = email

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        self.validate_passwords()
        if not self.has_error("password2", code="password_mismatch"):
            # Checked against the account it would create (similar to the name or address?).
            candidate = get_user_model()(
                username=self.email,
                email=self.email,
                first_name=cleaned.get("first_name", ""),
                last_name=cleaned.get("last_name", ""),
            )
            self.validate_password_for_user(candidate, password_field_name="password1")
        return cleaned
