"""Tenant quotas: limits live on ``Tenant``; each app registers how to count its usage.

``tenants`` registers members and tokens; ``deploy`` registers networks with
``register_usage("max_networks", lambda tenant: Network.objects.filter(...).count())`` in
its ``AppConfig.ready``. ``max_validators_per_network`` is a per-network limit: deploy
checks it with ``quota_check(tenant=..., quota="max_validators_per_network", used=n)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from baas.errors import QuotaExceeded

_USAGE: dict[str, Callable[[Any], int]] = {}


def register_usage(quota: str, counter: Callable[[Any], int]) -> None:
    _USAGE[quota] = counter


def quota_usage(*, tenant: Any) -> dict[str, dict[str, int | None]]:
    """``{"max_members": {"limit": 5, "used": 2}, ...}``; ``used`` is None if not counted."""
    from tenants.choices import QUOTA_NAMES

    usage: dict[str, dict[str, int | None]] = {}
    for name in QUOTA_NAMES:
        counter = _USAGE.get(name)
        usage[name] = {
            "limit": getattr(tenant, name),
            "used": counter(tenant) if counter else None,
        }
    return usage


def quota_check(*, tenant: Any, quota: str, used: int | None = None, adding: int = 1) -> None:
    """Raise ``QuotaExceeded`` (409 ``quota_exceeded``) if ``adding`` more would pass the limit."""
    limit = getattr(tenant, quota)
    if used is None:
        counter = _USAGE.get(quota)
        if counter is None:
            raise LookupError(f"no usage counter registered for quota {quota!r}")
        used = counter(tenant)
    if used + adding > limit:
        raise QuotaExceeded(
            "quota_exceeded",
            f"This organisation's plan allows {limit} ({quota}); {used} already used.",
            details={"quota": quota, "limit": limit, "used": used},
        )
