"""Portal forms. They only validate input; every change goes through one service in views."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.utils.translation import gettext_lazy as _

from baas.validators import validate_name

SLUG_VALIDATOR = RegexValidator(
    r"^[a-z0-9](?:[a-z0-9-]{1,38}[a-z0-9])$",
    _("Use 3 to 40 lowercase letters, digits or hyphens; start and end with a letter or digit."),
)

# Role and scope choices the portal offers. The backend's services validate them again.
ROLE_CHOICES = [
    ("owner", _("Owner")),
    ("admin", _("Admin")),
    ("developer", _("Developer")),
    ("viewer", _("Viewer")),
]
INVITE_ROLE_CHOICES = [c for c in ROLE_CHOICES if c[0] != "owner"]
SCOPE_CHOICES = [
    ("read", _("Read")),
    ("write", _("Write")),
    ("deploy", _("Deploy")),
]
PLAN_CHOICES = [
    ("free", _("Free")),
    ("startup", _("Startup")),
    ("enterprise", _("Enterprise")),
]
EXPIRY_CHOICES = [
    ("7", _("7 days")),
    ("30", _("30 days")),
    ("90", _("90 days")),
    ("365", _("1 year")),
    ("", _("Never")),
]


class PasswordMixin:
    """Runs Django's password validators so a weak password is named before any service call."""

    password_field = "password"

    def clean_password(self) -> str:
        password = self.cleaned_data.get(self.password_field, "")  # type: ignore[attr-defined]
        email = self.data.get("email", "")  # type: ignore[attr-defined]
        probe = _ProbeUser(email=email)
        validate_password(password, user=probe)
        return password


class _ProbeUser:
    """Stand-in for a not-yet-created user so the similarity validator can compare the email."""

    def __init__(self, email: str) -> None:
        self.email = email

    def __getattr__(self, name: str) -> str:
        return ""


class SignupForm(PasswordMixin, forms.Form):
    full_name = forms.CharField(label=_("Your name"), max_length=150, validators=[validate_name])
    email = forms.EmailField(label=_("Work email"), max_length=254)
    password = forms.CharField(
        label=_("Password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=_("Use a long password that is not a common word and not only digits."),
    )
    organisation = forms.CharField(label=_("Organisation name"), max_length=150,
                                   validators=[validate_name])
    slug = forms.CharField(
        label=_("Organisation address"),
        max_length=40,
        validators=[SLUG_VALIDATOR],
        help_text=_("A short name used in URLs, for example acme-energy."),
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["email"].widget.attrs["autocomplete"] = "email"
        self.fields["full_name"].widget.attrs["autocomplete"] = "name"
        self.fields["organisation"].widget.attrs["autocomplete"] = "organization"

    def clean_email(self) -> str:
        return self.cleaned_data["email"].strip().lower()

    def clean_slug(self) -> str:
        return self.cleaned_data["slug"].strip().lower()


class LoginForm(forms.Form):
    email = forms.EmailField(label=_("Email"), max_length=254,
                             widget=forms.EmailInput(attrs={"autocomplete": "email"}))
    password = forms.CharField(
        label=_("Password"), strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )


class PasswordResetRequestForm(forms.Form):
    email = forms.EmailField(label=_("Email"), max_length=254,
                             widget=forms.EmailInput(attrs={"autocomplete": "email"}))


class PasswordResetConfirmForm(forms.Form):
    password = forms.CharField(
        label=_("New password"), strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=_("Use a long password that is not a common word and not only digits."),
    )
    password_again = forms.CharField(
        label=_("New password again"), strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean(self) -> dict:
        data = super().clean()
        if data.get("password") and data.get("password") != data.get("password_again"):
            self.add_error("password_again", _("The two passwords differ."))
        return data


class AcceptExistingForm(forms.Form):
    """The invited email already has an account: its password proves who accepts."""

    password = forms.CharField(
        label=_("Password"), strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )


class AcceptSignupForm(PasswordMixin, forms.Form):
    """A person invited by email who has no account yet: the email comes from the invitation."""

    full_name = forms.CharField(label=_("Your name"), max_length=150, validators=[validate_name])
    email = forms.EmailField(label=_("Email"), disabled=True, required=False)
    password = forms.CharField(
        label=_("Password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=_("Use a long password that is not a common word and not only digits."),
    )


class InviteForm(forms.Form):
    email = forms.EmailField(label=_("Email address"), max_length=254)
    role = forms.ChoiceField(label=_("Role"), choices=INVITE_ROLE_CHOICES, initial="developer")

    def clean_email(self) -> str:
        return self.cleaned_data["email"].strip().lower()


class RoleForm(forms.Form):
    role = forms.ChoiceField(label=_("Role"), choices=ROLE_CHOICES)


class TokenCreateForm(forms.Form):
    name = forms.CharField(label=_("Token name"), max_length=100, validators=[validate_name],
                           help_text=_("For example: ci-pipeline"))
    scopes = forms.MultipleChoiceField(
        label=_("Scopes"),
        choices=SCOPE_CHOICES,
        widget=forms.CheckboxSelectMultiple,
        initial=["read"],
    )
    expires_in_days = forms.ChoiceField(
        label=_("Expires after"), choices=EXPIRY_CHOICES, initial="90", required=False
    )

    def clean_expires_in_days(self) -> int | None:
        value = self.cleaned_data.get("expires_in_days")
        return int(value) if value else None


class AuditFilterForm(forms.Form):
    action = forms.CharField(label=_("Action"), required=False, max_length=100)
    actor = forms.CharField(label=_("Actor email"), required=False, max_length=254)
    since = forms.DateField(label=_("From"), required=False,
                            widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(label=_("Until"), required=False,
                            widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self) -> dict:
        data = super().clean()
        since, until = data.get("since"), data.get("until")
        if since and until and since > until:
            raise ValidationError(_("The start date must not be after the end date."))
        return data


# --- service errors shown in words ---------------------------------------------------------

# Words for the backend's stable error codes, so Korean users read them in Korean. Codes the
# portal does not know fall back to the service's own (English) message.
ERROR_TEXT = {
    "email_taken": _("An account with this email address already exists. Log in instead."),
    "slug_taken": _("This organisation address is already taken. Choose another one."),
    "email_or_slug_taken": _("This email address or organisation address was just taken."),
    "invalid_slug": _("The organisation needs a name or address with letters or digits."),
    "weak_password": _("This password is too weak. Choose a longer, less common one."),
    "invalid_credentials": _("Wrong email address or password."),
    "validation_failed": _("Some of the values are not valid."),
    "permission_denied": _("Your role in this organisation does not allow this."),
    "not_found": _("This item does not exist or is not visible to you."),
    "quota_exceeded": _("Your organisation has reached its plan limit for this."),
    "token_invalid": _("This link is not valid: it has expired or was already used."),
    "invitation_invalid": _("This invitation link is not valid."),
    "invitation_expired": _("This invitation has expired. Ask for a new one."),
    "invitation_accepted": _("This invitation was already used."),
    "invitation_revoked": _("This invitation was withdrawn."),
    "invitation_not_pending": _("This invitation is no longer pending."),
    "invitation_email_mismatch": _(
        "This invitation was sent to a different email address than the one you are signed in "
        "with."
    ),
    "already_member": _("This person is already a member of the organisation."),
    "invitation_pending": _("An invitation for this email address is already pending."),
    "invalid_role": _("Choose a valid role."),
    "invalid_scope": _("Choose at least one valid scope."),
    "invalid_expiry": _("The expiry must be in the future."),
    "last_owner": _("An organisation needs at least one owner."),
    "conflict": _("This conflicts with the current state. Reload the page and try again."),
    "throttled": _("Too many attempts. Wait a moment and try again."),
}

# A service error code that belongs to one form field.
ERROR_FIELD = {
    "email_taken": "email",
    "invalid_slug": "slug",
    "invalid_scope": "scopes",
    "invalid_credentials": "password",
    "slug_taken": "slug",
    "weak_password": "password",
    "already_member": "email",
    "invitation_pending": "email",
}


def app_error_text(exc: Any) -> str:
    return str(ERROR_TEXT.get(exc.code, exc.message))


def show_app_error(form: forms.Form, exc: Any) -> None:
    """Put a service's ``AppError`` on the form: on its field when it names one."""
    details = getattr(exc, "details", None) or {}
    placed = False
    for name, problems in details.items():
        if name in form.fields:
            items = problems if isinstance(problems, list | tuple) else [problems]
            for item in items:
                form.add_error(name, str(item))
            placed = True
    if placed:
        return
    field = ERROR_FIELD.get(exc.code)
    form.add_error(field if field in form.fields else None, app_error_text(exc))
