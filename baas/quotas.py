"""Tenant quotas: limits live on ``Tenant``; each app registers how to count its usage.

``tenants`` registers members and tokens; ``deploy`` registers networks with
``register_usage("max_networks", lambda tenant: Network.objects.filter(...).count())`` in
its ``AppConfig.ready``. ``max_validators_per_network`` is a per-network limit: deploy
checks it with ``quota_check(tenant=..., quota="max_validators_per_network", used=n)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from baas import events
from baas.errors import QuotaExceeded

# ``quota.nearly_used`` fires when an addition takes usage to this share of the limit --
# for limits of at least NEARLY_USED_MIN_LIMIT: below, 80% is the last place or the limit
# itself, and "nearly used" would announce a quota already used up.
NEARLY_USED = 0.8
NEARLY_USED_MIN_LIMIT = 5

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
    quota_nearly_used(tenant=tenant, quota=quota, limit=limit, used=used, adding=adding)


def quota_nearly_used(*, tenant: Any, quota: str, limit: int | None, used: int,
                      adding: int = 1) -> None:
    """Publish ``quota.nearly_used`` when this addition crosses ``NEARLY_USED`` of the
    limit: once per crossing (usage that drops and rises again crosses again), not on
    every addition above it. Called before the addition is saved, in its transaction, so
    an addition that rolls back publishes nothing. Two additions at once that both see
    the crossing publish one event: the dedupe key names the quota, the limit, the usage
    reached and the hour (a crossing again within the same hour is not announced again)."""
    if not limit or limit < NEARLY_USED_MIN_LIMIT:
        return
    threshold = NEARLY_USED * limit
    if used < threshold <= used + adding:
        from django.utils import timezone

        hour = timezone.now().strftime("%Y%m%d%H")
        events.publish(tenant=tenant, type=events.QUOTA_NEARLY_USED, data={
            "quota": quota, "limit": limit, "used": used + adding},
            dedupe_key=f"quota.nearly_used:{quota}:{limit}:{used + adding}:{hour}")
