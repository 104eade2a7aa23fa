"""The few things deploy needs from the tenants app (roles, quotas, audit), in one place.

Kept apart so services read as domain logic and so a change in ``tenants`` touches one
module here.
"""

from __future__ import annotations

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


def audit(
    *, tenant: Any, actor: Any, action: str, target: Any, request: Any = None,
    metadata: dict | None = None,
) -> None:
    from baas.audit import audit_record

    audit_record(
        tenant=tenant, actor=actor, action=action, target=target, request=request,
        metadata=metadata or {},
    )
