"""Deploy's tunables: a Django setting if defined, else an environment variable, else the
default. None of these is a secret; they are listed in ``docs/operations.md``."""

from __future__ import annotations

import os

from django.conf import settings

DEFAULTS: dict[str, float] = {
    "DEPLOY_FIRST_BLOCK_TIMEOUT_S": 60,  # provisioning/start: wait for a committed block
    "DEPLOY_PROVISION_DEADLINE_S": 600,  # operation deadlines used by the reaper
    "DEPLOY_START_DEADLINE_S": 300,
    "DEPLOY_STOP_DEADLINE_S": 300,
    "DEPLOY_DELETE_DEADLINE_S": 300,
    "DEPLOY_STALL_S": 120,  # reconciler re-queues a busy network's task after this silence
    "DEPLOY_MAX_VALIDATORS": 7,  # hard ceiling on top of the tenant's quota
    "DEPLOY_GATEWAY_TIMEOUT_S": 5,
    # Ceilings on the per-node CPUs and memory of the tenants' plans
    # (tenants.choices.PLAN_NODE_RESOURCES): the largest plan's by default.
    "DEPLOY_NODE_CPU_LIMIT": 2.0,
    "DEPLOY_NODE_MEMORY_MB": 2048,
    # Timeout of the whole check of a cluster at registration or re-check (seconds).
    "BAAS_CLUSTER_CHECK_TIMEOUT_S": 10,
}


def setting(name: str) -> float:
    if hasattr(settings, name):
        return float(getattr(settings, name))
    raw = os.environ.get(name)
    if raw:
        try:
            return float(raw)
        except ValueError:
            raise ValueError(f"{name} must be a number, not {raw!r}") from None
    return float(DEFAULTS[name])
