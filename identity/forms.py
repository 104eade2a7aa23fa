"""Portal forms of the identity pages: field types only; the services check the rest."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from baas.validators import validate_name
from identity.choices import Custody


class CreateDidForm(forms.Form):
    network = forms.ChoiceField(label=_("Network"))
    subject = forms.ChoiceField(label=_("Whose DID"), choices=[
        ("organisation", _("The organisation's")), ("me", _("Mine"))])
    custody = forms.ChoiceField(
        label=_("Who holds the controller key"), choices=Custody.choices,
        initial=Custody.PLATFORM, widget=forms.RadioSelect,
        help_text=_("Held by you: this browser makes the key and keeps it; the platform "
                    "never sees it, and only this browser can change the DID."))
    label = forms.CharField(label=_("Label"), max_length=63, required=False,
                            validators=[validate_name])
    # Holder custody: filled in by identity/holder.js after the browser signed.
    public_key = forms.CharField(required=False, max_length=64, widget=forms.HiddenInput)
    signature = forms.CharField(required=False, max_length=200, widget=forms.HiddenInput)

    def __init__(self, *args: Any, networks: list[tuple[str, str]], subjects: list[str],
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["network"].choices = networks
        self.fields["subject"].choices = [c for c in self.fields["subject"].choices
                                          if c[0] in subjects]


class ChangeDidForm(forms.Form):
    """Rotate (platform: nothing to fill in; holder: filled in by holder.js)."""

    public_key = forms.CharField(required=False, max_length=64, widget=forms.HiddenInput)
    signature = forms.CharField(required=False, max_length=200, widget=forms.HiddenInput)
    prev = forms.IntegerField(required=False, min_value=0, widget=forms.HiddenInput)


class DeactivateDidForm(ChangeDidForm):
    confirm = forms.BooleanField(
        label=_("I understand that deactivation is final: this DID can never be used or "
                "changed again."))


class RegistryForm(forms.Form):
    network = forms.ChoiceField(label=_("Network"))
    namespace = forms.CharField(
        label=_("Namespace"), max_length=32,
        help_text=_("1 to 32 lower-case letters, digits and hyphens; it appears in every "
                    "DID of the network and never changes."))
    public = forms.BooleanField(
        label=_("Public: anyone may resolve the DIDs of this network"), required=False)

    def __init__(self, *args: Any, networks: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["network"].choices = networks


class RegistryPublicForm(forms.Form):
    public = forms.BooleanField(required=False)
