"""Reads of the sectors app: the catalogue a tenant sees and the deployments it may read."""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import QuerySet

from baas.errors import NotFound
from deploy import selectors as deploy_selectors
from deploy.choices import NETWORK_LIVE
from sectors import catalogue, manifest
from sectors.choices import DeploymentStatus
from sectors.models import Deployment, Template


def _uuid(value: Any, what: str) -> str:
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        raise NotFound("not_found", f"{what} not found.") from None


def template_list(*, tenant: Any, sector: str | None = None) -> QuerySet[Template]:
    """The platform's templates (synchronised from ``sectors/bundles/``) and the tenant's
    own private ones, never another tenant's."""
    catalogue.sync_platform_bundles()
    qs = Template.objects.visible_to(tenant)
    return qs.filter(sector=sector) if sector else qs


def template_get(*, tenant: Any, template_id: Any) -> Template:
    pk = _uuid(template_id, "Template")
    catalogue.sync_platform_bundles()
    template = Template.objects.visible_to(tenant).filter(pk=pk).first()
    if template is None:
        raise NotFound("not_found", "Template not found.")
    return template


def deployment_queryset(*, tenant: Any) -> QuerySet[Deployment]:
    """Deployments on the networks ``tenant`` may read (its own and those it joined)."""
    networks = deploy_selectors.network_queryset(tenant=tenant)
    return Deployment.objects.filter(network__in=networks).select_related(
        "network", "active", "target", "tenant")


def deployment_list(*, tenant: Any, network: Any = None) -> QuerySet[Deployment]:
    qs = deployment_queryset(tenant=tenant)
    return qs.filter(network=network) if network is not None else qs


def deployment_get(*, tenant: Any, deployment_id: Any) -> Deployment:
    pk = _uuid(deployment_id, "Deployment")
    deployment = deployment_queryset(tenant=tenant).filter(pk=pk).first()
    if deployment is None:
        raise NotFound("not_found", "Deployment not found.")
    return deployment


def deployment_public_get(*, deployment_id: Any) -> Deployment:
    """A deployment anyone may open: active, on a running network that admits keys not
    registered on chain, with at least one public function. Anything else is 404."""
    pk = _uuid(deployment_id, "Deployment")
    deployment = (Deployment.objects.select_related("network", "active")
                  .filter(pk=pk, active__isnull=False, network__public_access=True,
                          network__status__in=NETWORK_LIVE).first())
    if deployment is None or not manifest.public_functions(deployment.active.manifest):
        raise NotFound("not_found", "Deployment not found.")
    if deployment.status not in (DeploymentStatus.ACTIVE, DeploymentStatus.DEPLOYING,
                                 DeploymentStatus.AWAITING_APPROVAL):
        raise NotFound("not_found", "Deployment not found.")
    return deployment
