"""The few things deploy needs from the tenants app (roles, quotas, audit), in one place.

Kept apart so services read as domain logic and so a change in ``tenants`` touches one
module here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from baas.tenancy import require_role as _require_role


@dataclass(frozen=True)
class NetworkQuota:
    max_networks: int | None
    max_validators: int | None


def require_role(*, tenant: Any, actor: Any, minimum: str) -> None:
    """``actor=None`` is the platform itself (tasks, commands): always allowed."""
    if actor is None:
        return
    from tenants.models import Membership

    membership = Membership.objects.filter(tenant=tenant, user=actor).first()
    _require_role(membership, minimum)


def network_quota(tenant: Any) -> NetworkQuota:
    """The tenant's own limits (plan defaults, overridable by staff per tenant)."""
    return NetworkQuota(
        max_networks=getattr(tenant, "max_networks", None),
        max_validators=getattr(tenant, "max_validators_per_network", None),
    )


def approval_plans() -> frozenset[str]:
    """Plans whose new networks wait for platform approval: the ``DEPLOY_APPROVAL_PLANS``
    setting (a list) or environment variable (comma-separated); none by default."""
    from django.conf import settings

    raw = getattr(settings, "DEPLOY_APPROVAL_PLANS", None)
    if raw is None:
        raw = os.environ.get("DEPLOY_APPROVAL_PLANS", "")
    if isinstance(raw, str):
        raw = raw.split(",")
    return frozenset(p.strip() for p in raw if p and p.strip())


def approval_required(tenant: Any) -> bool:
    """A per-tenant ``NetworkPolicy`` wins over the plan rule."""
    from deploy.models import NetworkPolicy

    policy = NetworkPolicy.objects.filter(tenant=tenant).first()
    if policy is not None and policy.requires_approval is not None:
        return policy.requires_approval
    return getattr(tenant, "plan", None) in approval_plans()


def is_staff(user: Any) -> bool:
    return bool(getattr(user, "is_active", False) and getattr(user, "is_staff", False))


def audit(
    *, tenant: Any, actor: Any, action: str, target: Any, request: Any = None,
    metadata: dict | None = None,
) -> None:
    from baas.audit import audit_record

    audit_record(
        tenant=tenant, actor=actor, action=action, target=target, request=request,
        metadata=metadata or {},
    )
