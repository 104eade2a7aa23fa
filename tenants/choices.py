"""Roles, plans and token scopes of the tenants app."""

from __future__ import annotations

from django.db import models


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    DEVELOPER = "developer", "Developer"
    VIEWER = "viewer", "Viewer"


# Higher rank = more rights. ``require_role(m, Role.DEVELOPER)`` admits developer, admin, owner.
ROLE_RANK: dict[str, int] = {
    Role.VIEWER: 10,
    Role.DEVELOPER: 20,
    Role.ADMIN: 30,
    Role.OWNER: 40,
}


class Plan(models.TextChoices):
    FREE = "free", "Free"
    STARTUP = "startup", "Startup"
    ENTERPRISE = "enterprise", "Enterprise"


# Default quotas per plan; staff may override any of them per tenant.
PLAN_QUOTAS: dict[str, dict[str, int]] = {
    Plan.FREE: {"max_networks": 2, "max_validators_per_network": 4, "max_members": 5,
                "max_tokens": 5},
    Plan.STARTUP: {"max_networks": 10, "max_validators_per_network": 7, "max_members": 25,
                   "max_tokens": 25},
    Plan.ENTERPRISE: {"max_networks": 100, "max_validators_per_network": 21,
                      "max_members": 500, "max_tokens": 200},
}
# CPUs and memory (MB) of each validator a tenant runs, by plan: the requests and limits of
# a Kubernetes pod, the limits of a Docker container (the local driver cannot enforce them).
# The operator's DEPLOY_NODE_CPU_LIMIT / DEPLOY_NODE_MEMORY_MB cap them (small machines).
PLAN_NODE_RESOURCES: dict[str, tuple[float, int]] = {
    Plan.FREE: (1.0, 512),
    Plan.STARTUP: (1.0, 1024),
    Plan.ENTERPRISE: (2.0, 2048),
}
QUOTA_NAMES: tuple[str, ...] = (
    "max_networks", "max_validators_per_network", "max_members", "max_tokens",
)


class Scope(models.TextChoices):
    READ = "read", "Read"
    WRITE = "write", "Write"
    DEPLOY = "deploy", "Deploy"
