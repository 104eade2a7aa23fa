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
    "cluster_name_taken": "name",
    "cluster_unknown": "cluster",
    "cluster_driver_mismatch": "cluster",
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
    cluster = forms.ChoiceField(
        label=_("Kubernetes cluster"), required=False, choices=[],
        help_text=_("Only for the Kubernetes driver; empty: the platform's own cluster."),
    )

    def __init__(self, *args: Any, clusters: Any = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The service checks the choice again (another tenant's id is refused there too).
        self.fields["cluster"].choices = [("", _("The platform's own cluster"))] + [
            (str(c.pk), c.name) for c in clusters]


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


class ClusterRegisterForm(forms.Form):
    """Register a Kubernetes cluster; the service refuses what the kubeconfig may not do."""

    name = forms.CharField(
        label=_("Name"), max_length=63, validators=[validate_name],
        help_text=_("Lowercase letters, digits and hyphens, e.g. prod-seoul."),
    )
    kubeconfig = forms.CharField(
        label=_("Kubeconfig"), strip=False,
        widget=forms.Textarea(attrs={"rows": 10, "spellcheck": "false",
                                     "autocomplete": "off"}),
        help_text=_("The kubeconfig file's text, with the credentials inline (a token, or "
                    "client-certificate-data and client-key-data) and the cluster's CA as "
                    "certificate-authority-data. Stored encrypted and never shown again."),
    )
    context = forms.CharField(
        label=_("Context"), max_length=253, required=False,
        help_text=_("The context to use; empty: the kubeconfig's current context."),
    )
