"""Portal form of a webhook subscription (the checks themselves are in the service)."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from baas.validators import validate_name
from notify.choices import EVENT_TYPE_TITLES


class WebhookForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100, validators=[validate_name])
    url = forms.CharField(label=_("URL"), max_length=2000,
                          help_text=_("http:// or https://, on a public address."))
    event_types = forms.MultipleChoiceField(
        label=_("Events"), widget=forms.CheckboxSelectMultiple,
        choices=list(EVENT_TYPE_TITLES.items()))
