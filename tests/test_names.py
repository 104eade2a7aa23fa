"""Every name a person types goes through ``baas.validators.validate_name`` (issue 8).

Found generically: every serializer and form class defined in the project's modules, every
writable text field called ``name``, ``*_name`` or ``organisation``. A new one without the
validator fails here.
"""

from __future__ import annotations

import importlib
import pkgutil

import pytest
from django import forms
from rest_framework import serializers

from baas.validators import validate_name

PACKAGES = ("baas", "tenants", "deploy", "sectors", "identity", "notify", "monitor", "archives",
            "explorer", "elections")
# Fields that are not names a person chooses, or are held to a stricter rule elsewhere.
EXEMPT = {
    # Retyping an existing network name to confirm a deletion: compared, never stored.
    "deploy.forms.ConfirmForm.confirm_name",
}


def _import_all() -> None:
    for package in PACKAGES:
        try:
            root = importlib.import_module(package)
        except ModuleNotFoundError:
            continue
        for info in pkgutil.walk_packages(root.__path__, f"{package}."):
            if ".tests" in info.name or ".migrations" in info.name or \
                    info.name.endswith(("conftest", ".management.commands.demo_setup")):
                continue
            try:
                importlib.import_module(info.name)
            except Exception:  # noqa: BLE001 - an optional module (e.g. a driver SDK)
                continue


def _subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def _is_name(field_name: str) -> bool:
    return field_name == "name" or field_name.endswith("_name") or field_name == "organisation"


def _project(cls) -> bool:
    return cls.__module__.split(".")[0] in PACKAGES


def _serializer_name_fields():
    _import_all()
    for cls in sorted({c for c in _subclasses(serializers.Serializer) if _project(c)},
                      key=lambda c: f"{c.__module__}.{c.__qualname__}"):
        try:
            fields = cls().fields
        except Exception:  # noqa: BLE001 - needs context to build; skip
            continue
        for name, field in fields.items():
            if _is_name(name) and isinstance(field, serializers.CharField) \
                    and not field.read_only:
                yield f"{cls.__module__}.{cls.__qualname__}.{name}", field


def _form_name_fields():
    _import_all()
    for cls in {c for c in _subclasses(forms.BaseForm) if _project(c)}:
        for name, field in getattr(cls, "base_fields", {}).items():
            if _is_name(name) and isinstance(field, forms.CharField) and not field.disabled:
                yield f"{cls.__module__}.{cls.__qualname__}.{name}", field


def test_the_scan_finds_the_known_name_fields():
    found = {label for label, _ in [*_serializer_name_fields(), *_form_name_fields()]}
    for expected in ("tenants.api.serializers.SignupSerializer.organisation_name",
                     "tenants.api.serializers.ApiTokenCreateSerializer.name",
                     "tenants.api.serializers.TenantSerializer.name",
                     "tenants.forms.SignupForm.organisation",
                     "tenants.forms.TokenCreateForm.name"):
        assert expected in found, sorted(found)


@pytest.mark.parametrize("kind", ["serializers", "forms"])
def test_every_name_field_uses_the_shared_validator(kind):
    fields = _serializer_name_fields() if kind == "serializers" else _form_name_fields()
    missing = [label for label, field in fields
               if label not in EXEMPT and validate_name not in field.validators]
    assert not missing, f"name fields without baas.validators.validate_name: {missing}"
