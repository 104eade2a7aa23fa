"""The template catalogue and the deployments of templates on networks.

A ``Template`` is one version of a bundle, identified by the hash of its contents, with the
manifest, the contract and the review report it was validated with. Platform templates
(``tenant`` empty) come from ``sectors/bundles/``; a tenant's private templates are uploaded
and seen by that tenant only. A ``Deployment`` is a bundle on a network: the version that
is active there, and the one being deployed or waiting for approvals.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from baas.querysets import TenantScopedQuerySet
from sectors.choices import DeploymentStatus


class TemplateQuerySet(models.QuerySet):
    def visible_to(self, tenant: object) -> TemplateQuerySet:
        """The platform's templates and the tenant's own: never another tenant's."""
        return self.filter(Q(tenant__isnull=True) | Q(tenant=tenant))


class Template(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey("tenants.Tenant", null=True, blank=True,
                               on_delete=models.CASCADE, related_name="templates")
    name = models.CharField(max_length=64)
    version = models.CharField(max_length=32)
    # (major, minor, patch) as one sortable number: 1_000_000 ** 2 * major + ...
    version_key = models.BigIntegerField()
    sector = models.CharField(max_length=32)
    content_hash = models.CharField(max_length=64)
    manifest = models.JSONField()
    source = models.TextField()
    review = models.JSONField(default=dict)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TemplateQuerySet.as_manager()

    class Meta:
        ordering = ["sector", "name", "-version_key"]
        constraints = [
            models.UniqueConstraint(fields=["name", "version"], condition=Q(tenant__isnull=True),
                                    name="template_platform_version"),
            models.UniqueConstraint(fields=["tenant", "name", "version"],
                                    condition=Q(tenant__isnull=False),
                                    name="template_private_version"),
        ]

    def __str__(self) -> str:
        return f"{self.name} {self.version}"

    @property
    def is_platform(self) -> bool:
        return self.tenant_id is None


class DeploymentQuerySet(TenantScopedQuerySet):
    pass


class Deployment(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    network = models.ForeignKey("deploy.Network", on_delete=models.CASCADE,
                                related_name="deployments")
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.PROTECT, related_name="+")
    name = models.CharField(max_length=64)  # the chaincode's name on the network
    # The version active on chain (None until the first deploy activates one).
    active = models.ForeignKey(Template, null=True, blank=True, on_delete=models.PROTECT,
                               related_name="+")
    # The version being deployed or waiting for approvals.
    target = models.ForeignKey(Template, null=True, blank=True, on_delete=models.PROTECT,
                               related_name="+")
    status = models.CharField(max_length=20, choices=DeploymentStatus.choices,
                              default=DeploymentStatus.DEPLOYING)
    roles = models.JSONField(default=dict)  # organisation role -> [organisation ids]
    init_args = models.JSONField(default=dict)
    error_code = models.CharField(max_length=64, blank=True, default="")
    error_message = models.TextField(blank=True, default="")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = DeploymentQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["network", "name"], name="deployment_per_network"),
        ]

    def __str__(self) -> str:
        return f"{self.name} on {self.network_id}"


class DeploymentApproval(models.Model):
    """An organisation of the network agrees to a version (the manifest's upgrade rule)."""

    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE,
                                   related_name="approvals")
    template = models.ForeignKey(Template, on_delete=models.CASCADE, related_name="+")
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="+")
    approved_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                    on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["deployment", "template", "tenant"],
                                    name="approval_once_per_org"),
        ]

    def __str__(self) -> str:
        return f"{self.tenant_id} approves {self.template_id}"
