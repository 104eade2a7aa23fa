"""Tenant-isolation cases for the templates API (see ``baas.testing``). Deployments hang
under networks; ``test_deploy_services.py`` covers their URLs for another tenant."""

from __future__ import annotations

import uuid

from baas.testing import IsolationCase
from sectors.catalogue import version_key
from sectors.models import Template


def _private_template(tenant, owner):
    return Template.objects.create(
        tenant=tenant, name="private", version="1.0.0", version_key=version_key("1.0.0"),
        sector="other", content_hash=uuid.uuid4().hex * 2, manifest={"name": "private"},
        source="# private\n")


CASES = [
    IsolationCase("templates", _private_template, "/api/v1/templates/",
                  lambda o: f"/api/v1/templates/{o.pk}/", ("get",)),
]
