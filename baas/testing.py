"""Test helpers shared by every app: API clients per role and the tenant-isolation registry.

Tenant isolation is tested once, generically (``tests/test_tenant_isolation.py``), for every
case in ``ISOLATION_CASES`` plus the ``CASES`` list of each installed app's
``<app>/tests/isolation_cases.py``. A case says how to create one object for a tenant and
where its list and detail URLs are; the test proves the other tenant gets 404 on the detail
URL and never sees the object in the list.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.apps import apps
from rest_framework.test import APIClient


@dataclass(frozen=True)
class IsolationCase:
    name: str
    # (tenant, owner_user) -> created object
    make: Callable[[Any, Any], Any]
    list_url: str
    detail_url: Callable[[Any], str]
    # Extra methods to try on the detail URL (each must also answer 404).
    methods: tuple[str, ...] = field(default=("get",))


def api_client_for(user: Any, tenant: Any | None = None) -> APIClient:
    client = APIClient()
    client.force_authenticate(user=user)
    if tenant is not None:
        client.credentials(HTTP_X_TENANT=tenant.slug)
    return client


def token_client(raw_token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_token}")
    return client


def all_isolation_cases() -> list[IsolationCase]:
    cases: list[IsolationCase] = []
    for config in apps.get_app_configs():
        module_name = f"{config.name}.tests.isolation_cases"
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and module_name.startswith(exc.name):
                continue  # the app has no cases
            raise
        cases.extend(getattr(module, "CASES", []))
    return cases
