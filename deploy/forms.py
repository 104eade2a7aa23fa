"""Portal forms for networks: field types only; the service validates names, sizes,
drivers and quotas and its ``AppError`` is shown next to the field it names."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from baas.validators import validate_name
from deploy.choices import ConsortiumRole
from deploy.drivers.registry import driver_choices

# Service error code -> the field it belongs to (``error_field`` places it there).
ERROR_FIELDS = {
    "invalid_name": "name",
    "network_name_taken": "name",
    "invalid_size": "validators",
    "driver_unknown": "driver",
    "tenant_not_found": "tenant",
    "cannot_invite_owner": "tenant",
    "already_member": "tenant",
    "invitation_pending": "tenant",
    "invalid_role": "role",
}


# ``quota_exceeded`` names its quota: only the per-network size is about a field.
QUOTA_FIELDS = {"max_validators_per_network": "validators"}


def error_field(exc: Any) -> str | None:
    """The form field a service's ``AppError`` concerns, or None for the whole form (the
    number of networks an organisation may have is no fault of the validators field)."""
    if exc.code == "quota_exceeded":
        return QUOTA_FIELDS.get((exc.details or {}).get("quota", ""))
    return ERROR_FIELDS.get(exc.code)


def error_text(exc: Any) -> str:
    """The words for a service's ``AppError`` on these forms: a quota names its numbers
    (the generic "plan limit" text leaves a new user guessing which limit)."""
    from tenants.forms import app_error_text

    details = exc.details or {}
    if exc.code == "quota_exceeded" and details.get("quota") == "max_networks":
        return _("Your plan allows %(limit)s networks and %(used)s are in use (deleted ones "
                 "do not count). Delete a network or ask the platform team for a higher "
                 "limit.") % {"limit": details.get("limit"), "used": details.get("used")}
    if exc.code == "quota_exceeded":
        return str(exc.message)
    return app_error_text(exc)


class NetworkCreateForm(forms.Form):
    name = forms.CharField(
        label=_("Name"), max_length=63, validators=[validate_name],
        help_text=_("Lowercase letters, digits and hyphens, e.g. donations-2026."),
    )
    validators = forms.IntegerField(
        label=_("Validators"), min_value=1, initial=4,
        help_text=_("4 validators tolerate one faulty node."),
    )
    driver = forms.ChoiceField(
        label=_("Where the nodes run"),
        choices=driver_choices(),
        initial="local",
    )
    public_access = forms.BooleanField(
        label=_("Public pages"), required=False, initial=False,
        help_text=_("Let people outside your organisation (donors, residents) act on the "
                    "public pages of templates with keys held in their browser. Fixed when "
                    "the network is created."),
    )


class ConfirmForm(forms.Form):
    """Deleting asks for the network's name, so a slip of the mouse cannot do it."""

    # Required: the field is removed when no confirmation is asked, and the portal marks
    # optional fields "(optional)", which this one is not.
    confirm_name = forms.CharField(label=_("Type the network's name to confirm"),
                                   max_length=63)

    def __init__(self, *args, expected: str | None = None, label: str | None = None,
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.expected = expected
        if expected is None:
            del self.fields["confirm_name"]
        elif label:
            self.fields["confirm_name"].label = label

    def clean(self):
        data = super().clean()
        if self.expected is not None and data.get("confirm_name") != self.expected:
            self.add_error("confirm_name", _("The name does not match."))
        return data


class InviteForm(forms.Form):
    """Invite another organisation (by its slug) to join a network."""

    tenant = forms.SlugField(
        label=_("Organisation slug"), max_length=63,
        help_text=_("The short name in the other organisation's addresses, e.g. acme-energy."),
    )
    role = forms.ChoiceField(label=_("Role"), choices=ConsortiumRole.choices,
                             initial=ConsortiumRole.VALIDATOR)
