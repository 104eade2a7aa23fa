"""Tenant-isolation cases for the DIDs API (see ``baas.testing``). A network's DID registry
hangs under its network; ``test_api.py`` covers it for another tenant."""

from __future__ import annotations

import uuid

from baas.testing import IsolationCase
from deploy.tests.factories import NetworkFactory
from identity.models import Did


def _did(tenant, owner):
    return Did.objects.create(tenant=tenant, network=NetworkFactory(tenant=tenant),
                              did=f"did:baas:iso:{uuid.uuid4().hex[:26]}", custody="holder",
                              status="active", user=owner)


CASES = [
    IsolationCase("dids", _did, "/api/v1/dids/", lambda o: f"/api/v1/dids/{o.pk}/",
                  ("get",)),
]
