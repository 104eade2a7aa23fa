"""Portal forms of the template pages: field types only; the services check the rest.

The forms of a template's own functions are generated from its manifest
(``sectors.forms_schema``); these are the fixed ones: upload a bundle, deploy a template.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from sectors.forms_schema import localised

# An archive of a bundle (manifest, contract, tests) is small; the service has the final say.
MAX_ARCHIVE_BYTES = 2 * 1024 * 1024


class UploadForm(forms.Form):
    archive = forms.FileField(
        label=_("Bundle archive"),
        help_text=_("A .tar.gz or .zip of the bundle directory: manifest.toml, contract.py "
                    "and tests/."),
    )

    def clean_archive(self) -> bytes:
        upload = self.cleaned_data["archive"]
        if upload.size > MAX_ARCHIVE_BYTES:
            raise forms.ValidationError(
                _("The archive is larger than %(size)s MiB.")
                % {"size": MAX_ARCHIVE_BYTES // (1024 * 1024)})
        return upload.read()


def organisation_roles(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for r in manifest.get("roles") or []
            if isinstance(r, dict) and r.get("holder") == "organisation" and r.get("id")]


class DeployForm(forms.Form):
    """Which running network, and which organisations hold each organisation role (by
    default the deploying organisation holds all of them)."""

    network = forms.ChoiceField(label=_("Network"))

    def __init__(self, *args: Any, networks: list[Any], organisations: list[tuple[str, str]],
                 own: str, manifest: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.networks = {str(n.pk): n for n in networks}
        self.fields["network"].choices = [(str(n.pk), n.name) for n in networks]
        self.role_fields: list[str] = []
        for role in organisation_roles(manifest):
            name = f"role_{role['id']}"
            self.fields[name] = forms.MultipleChoiceField(
                label=_("Organisations holding the role %(role)s")
                % {"role": localised(role.get("title")) or role["id"]},
                choices=organisations, initial=[own], required=True,
                widget=forms.CheckboxSelectMultiple,
            )
            self.role_fields.append(name)

    def clean_network(self) -> Any:
        return self.networks[self.cleaned_data["network"]]

    def roles(self) -> dict[str, list[str]]:
        return {name.removeprefix("role_"): list(self.cleaned_data[name])
                for name in self.role_fields}


class ApproveForm(forms.Form):
    """An empty POST: the Approve button."""
