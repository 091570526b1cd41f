"""An organisation's guest-link policy, applied in one place: the services refuse what it does
not allow (`check_link_options`, whatever a form or a crafted request sent), and the panel
offers only what it allows and says why (`shape_form`, `policy_limits`).

The policy that applies to a link is that of the organisation owning its worklist (a personal
worklist: its owner's organisation; failing both, the acting user's). An organisation without a
policy row gets the model's defaults, which are what every link could do before policies.
"""

from datetime import datetime, timedelta
from typing import Any

from django import forms
from django.core import validators
from django.core.exceptions import ValidationError
from django.utils import timezone

from .models import GuestLinkPolicy

# The options a link is checked on (the names of `guestlink_create`'s arguments). A name left
# out of a call is not checked: `guestlink_update` passes only what changes.
OPTIONS = frozenset(
    {
        "expires_at",
        "max_uses",
        "password",
        "password_is_dob",
        "max_password_attempts",
        "email",
        "mobile",
        "allow_download",
        "one_time_code",
    }
)


def link_organisation(*, worklist: Any, actor: Any = None) -> Any:
    """The organisation whose policy governs links made in `worklist`."""
    if worklist.organisation_id is not None:
        return worklist.organisation
    owner = worklist.owner if worklist.owner_id is not None else None
    for user in (owner, actor):
        if user is not None and getattr(user, "organisation_id", None) is not None:
            return user.organisation
    return None


def policy_for(organisation: Any) -> GuestLinkPolicy:
    """The organisation's policy; the defaults (unsaved) when it has none or there is none."""
    if organisation is not None:
        policy = GuestLinkPolicy.objects.filter(organisation=organisation).first()
        if policy is not None:
            return policy
    return GuestLinkPolicy()


def link_option_errors(
    *, policy: GuestLinkPolicy, now: datetime | None = None, **options: Any
) -> dict[str, list[str]]:
    """What the policy refuses in `options`, by option name (empty when all is allowed)."""
    unknown = set(options) - OPTIONS
    if unknown:
        raise TypeError(f"Guest links have no option {', '.join(sorted(unknown))}.")
    now = now or timezone.now()
    errors: dict[str, list[str]] = {}

    def refuse(name: str, text: str) -> None:
        errors.setdefault(name, []).append(text)

    expires_at = options.get("expires_at")
    if expires_at is not None and expires_at > now + timedelta(days=policy.max_expiry_days):
        refuse("expires_at", f"Your organisation allows links of at most {_days(policy)}.")
    if "max_uses" in options:
        limit, uses = policy.max_uses_limit, options["max_uses"]
        if limit is not None and (uses is None or uses > limit):
            refuse("max_uses", f"Your organisation allows at most {limit} uses per link.")
    attempts = options.get("max_password_attempts")
    if attempts is not None and attempts > policy.max_password_attempts_limit:
        refuse(
            "max_password_attempts",
            f"Your organisation allows at most {policy.max_password_attempts_limit} "
            "password attempts.",
        )
    if "password" in options or "password_is_dob" in options:
        password = options.get("password") or ""
        wants_dob = bool(options.get("password_is_dob")) and not password
        if password and len(password) < policy.min_password_length:
            refuse(
                "password",
                f"Your organisation asks for passwords of at least "
                f"{policy.min_password_length} characters.",
            )
        if wants_dob and not policy.allow_birth_date_password:
            refuse(
                "password_is_dob",
                "Your organisation does not allow the birth date as password: type one.",
            )
        if policy.require_password and not password and not wants_dob:
            refuse("password", "Your organisation requires a password on every link.")
    if options.get("email") and not policy.allow_email:
        refuse("email", "Your organisation does not allow sending links by email.")
    if options.get("mobile") and not policy.allow_sms:
        refuse("mobile", "Your organisation does not allow sending links by SMS.")
    if options.get("allow_download") and not policy.allow_downloads:
        refuse("allow_download", "Your organisation does not allow downloads through links.")
    if options.get("one_time_code") is False and policy.require_second_factor:
        refuse(
            "one_time_code",
            "Your organisation requires a one-time code sent to the recipient on every link.",
        )
    return errors


def check_link_options(*, organisation: Any, now: datetime | None = None, **options: Any) -> None:
    """Raise ValidationError (messages by option name) for anything the organisation's policy
    does not allow. Options are `guestlink_create`'s names; `allow_download` and
    `one_time_code` are checked when given (None or left out: not asked)."""
    errors = link_option_errors(policy=policy_for(organisation), now=now, **options)
    if errors:
        raise ValidationError(errors)


def merge_errors(errors: dict[str, Any], more: dict[str, list[str]]) -> dict[str, Any]:
    """The service's own errors with the policy's, by field (a field keeps both messages)."""
    for name, problems in more.items():
        already = errors.get(name)
        if already is None:
            errors[name] = problems
        else:
            errors[name] = [*(already if isinstance(already, list) else [already]), *problems]
    return errors


# --- the panel ---------------------------------------------------------------------------


def _days(policy: GuestLinkPolicy) -> str:
    days = policy.max_expiry_days
    return f"{days} day{'s' if days != 1 else ''}"


def policy_limits(policy: GuestLinkPolicy) -> list[str]:
    """What the organisation's policy limits, in words for the panel (empty: nothing beyond
    the defaults)."""
    defaults = GuestLinkPolicy()
    limits = []
    if policy.require_password:
        limits.append(
            "Every link needs a password"
            + (" (a typed one or the birth date)." if policy.allow_birth_date_password else ".")
        )
    if not policy.allow_birth_date_password:
        limits.append("The birth date may not be the password.")
    if policy.min_password_length > defaults.min_password_length:
        limits.append(f"Passwords have at least {policy.min_password_length} characters.")
    if policy.max_expiry_days < defaults.max_expiry_days:
        limits.append(f"Links last at most {_days(policy)}.")
    if policy.max_uses_limit is not None:
        limits.append(f"Links open at most {policy.max_uses_limit} times.")
    if policy.max_password_attempts_limit < defaults.max_password_attempts_limit:
        limits.append(f"At most {policy.max_password_attempts_limit} password attempts.")
    if not policy.allow_email:
        limits.append("Links are not sent by email.")
    if not policy.allow_sms:
        limits.append("Links are not sent by SMS.")
    if not policy.allow_downloads:
        limits.append("Links do not offer downloads.")
    if policy.require_second_factor:
        limits.append("Every link sends a one-time code to its recipient.")
    return limits


def shape_form(form: forms.Form, policy: GuestLinkPolicy) -> None:
    """Offer only what the policy allows in a guest-link form (creation or edit): fields it
    forbids go, limits become the fields' own bounds, and help texts say why."""
    fields = form.fields
    if not policy.allow_email:
        for name in ("email", "message"):
            fields.pop(name, None)
    if not policy.allow_sms:
        fields.pop("mobile", None)
    if not policy.allow_downloads:
        fields.pop("allow_download", None)
    if not policy.allow_birth_date_password:
        fields.pop("password_is_dob", None)
    if policy.require_second_factor and "one_time_code" in fields:
        # Always on: a disabled field keeps its initial value whatever a request sends.
        field = fields["one_time_code"]
        field.initial, field.disabled = True, True
        field.help_text = "Required by your organisation."
    if "max_uses" in fields and policy.max_uses_limit is not None:
        field = fields["max_uses"]
        field.required = True
        _set_max(field, policy.max_uses_limit)
        field.help_text = f"Your organisation allows at most {policy.max_uses_limit}."
    if "max_password_attempts" in fields:
        field = fields["max_password_attempts"]
        _set_max(field, policy.max_password_attempts_limit)
    if "password" in fields:
        field = fields["password"]
        field.min_length = policy.min_password_length  # type: ignore[attr-defined]
        field.widget.attrs["minlength"] = str(policy.min_password_length)
        field.validators = [
            v for v in field.validators if not isinstance(v, validators.MinLengthValidator)
        ] + [validators.MinLengthValidator(policy.min_password_length)]
        if policy.require_password:
            field.help_text = (
                "Required by your organisation"
                + (" (or tick the birth date below)" if "password_is_dob" in fields else "")
                + ". Give it to the recipient yourself: it is never sent with the link."
            )
    if "expires" in fields:
        longest = timedelta(days=policy.max_expiry_days)
        field = fields["expires"]
        field.choices = [  # type: ignore[attr-defined]
            (key, label)
            for key, label in field.choices  # type: ignore[attr-defined]
            if _preset_within(form, key, longest)
        ]
        allowed = [key for key, _ in field.choices]  # type: ignore[attr-defined]
        presets = [key for key in allowed if key in getattr(form, "expiry_presets", {})]
        if field.initial not in allowed and presets:
            field.initial = presets[-1]  # the longest preset allowed
        if (
            policy.max_expiry_days < GuestLinkPolicy().max_expiry_days
            and "expires_custom" in fields
        ):
            fields[
                "expires_custom"
            ].help_text = f"Your organisation's local time; at most {_days(policy)} from now."


def _set_max(field: forms.Field, limit: int) -> None:
    current = getattr(field, "max_value", None)
    if current is None or current > limit:
        field.max_value = limit  # type: ignore[attr-defined]
        field.validators = [
            v for v in field.validators if not isinstance(v, validators.MaxValueValidator)
        ] + [validators.MaxValueValidator(limit)]
        field.widget.attrs["max"] = str(limit)


def _preset_within(form: forms.Form, key: str, longest: timedelta) -> bool:
    presets = getattr(form, "expiry_presets", {})
    if key not in presets:
        return True  # "custom", "keep": checked when submitted
    return bool(presets[key][1] <= longest)
