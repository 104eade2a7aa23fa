"""Querysets shared by every app's models (no app imports here: models of ``baas`` itself
use it, and ``baas`` stays below the apps)."""

from __future__ import annotations

from typing import Any

from django.db import models


class TenantScopedQuerySet(models.QuerySet):
    """``tenant_field`` names the path to the tenant (``"tenant"``, ``"network__tenant"``)."""

    tenant_field = "tenant"

    def for_tenant(self, tenant: Any) -> TenantScopedQuerySet:
        return self.filter(**{self.tenant_field: tenant})
