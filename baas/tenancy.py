"""Tenant scoping: every object is reached only through its tenant.

How the API finds the *current tenant* of a request (``resolve_tenant``):

1. An API token belongs to exactly one tenant: that tenant, nothing else.
2. A session user names it with the ``X-Tenant`` header or the ``?tenant=`` query
   parameter (the tenant's slug). They must be a member, or staff.
3. Otherwise, a session user with exactly one membership gets that tenant.
4. Otherwise the request fails with 400 ``tenant_required`` (several memberships and none
   named) or 404 ``not_found`` (a slug the user cannot see: an unknown tenant and a tenant
   the user is not in look the same).

``TenantScopedViewSet`` applies ``.for_tenant(request.tenant)`` to every queryset, so an id
of another tenant's object is simply not found (404).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from django.db import models
from rest_framework import viewsets
from rest_framework.permissions import SAFE_METHODS, IsAuthenticated

from baas.errors import AppError, NotFound, PermissionDenied
from baas.querysets import TenantScopedQuerySet  # noqa: F401 -- re-exported for apps
from tenants.permissions import TokenScopePermission

_SLUG = re.compile(r"^[-a-zA-Z0-9_]{1,50}$")


@dataclass
class TenantContext:
    tenant: Any
    membership: Any | None  # None for staff acting on a tenant they are not a member of
    role: str | None


def _role_rank(role: str | None) -> int:
    from tenants.choices import ROLE_RANK

    return ROLE_RANK.get(role or "", 0)


def require_role(membership: Any, minimum: str) -> None:
    """Raise 403 ``permission_denied`` unless ``membership`` has at least ``minimum``."""
    role = getattr(membership, "role", membership)
    if _role_rank(role) < _role_rank(minimum):
        raise PermissionDenied(
            "permission_denied",
            f"This needs the {minimum} role or higher in the organisation.",
            details={"required_role": str(minimum), "your_role": role or None},
        )


def resolve_tenant(request: Any) -> TenantContext:
    from tenants.models import ApiToken, Membership, Tenant

    user = request.user
    auth = getattr(request, "auth", None)
    if isinstance(auth, ApiToken):
        membership = Membership.objects.filter(tenant_id=auth.tenant_id, user=user).first()
        return TenantContext(auth.tenant, membership, membership.role if membership else None)

    slug = request.headers.get("X-Tenant") or request.GET.get("tenant")
    if slug and not _SLUG.match(slug):
        # Not a slug any tenant can have (NUL, other scripts, 5,000 characters): the same
        # answer as an unknown one, before it reaches the database.
        raise NotFound("not_found", "No such organisation visible to you.")
    if slug:
        membership = (
            Membership.objects.select_related("tenant").filter(user=user, tenant__slug=slug).first()
        )
        if membership:
            return TenantContext(membership.tenant, membership, membership.role)
        if user.is_staff:
            tenant = Tenant.objects.filter(slug=slug).first()
            if tenant:
                return TenantContext(tenant, None, None)
        raise NotFound("not_found", f"No organisation '{slug}' visible to you.")

    memberships = list(Membership.objects.select_related("tenant").filter(user=user)[:2])
    if len(memberships) == 1:
        return TenantContext(memberships[0].tenant, memberships[0], memberships[0].role)
    if not memberships:
        raise AppError("tenant_required", "You are not a member of any organisation.", 400)
    raise AppError(
        "tenant_required",
        "You belong to several organisations; name one with the X-Tenant header "
        "or the ?tenant= parameter (its slug).",
        400,
    )


class TenantScopedMixin:
    """Resolves ``request.tenant`` / ``request.membership`` and scopes ``get_queryset``.

    ``read_role`` / ``write_role`` set the minimum role for safe / unsafe methods;
    ``action_roles`` overrides per action. Staff who are not members may read any tenant
    and change nothing.
    """

    read_role = "viewer"
    write_role = "developer"
    action_roles: dict[str, str] = {}

    def initial(self, request: Any, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)  # type: ignore[misc]
        ctx = resolve_tenant(request)
        request.tenant = ctx.tenant
        request.membership = ctx.membership
        self.tenant = ctx.tenant
        self.membership = ctx.membership
        self.check_role(request)

    def required_role(self, request: Any) -> str:
        action = getattr(self, "action", None)
        if action and action in self.action_roles:
            return self.action_roles[action]
        return self.read_role if request.method in SAFE_METHODS else self.write_role

    def check_role(self, request: Any) -> None:
        if self.membership is None and request.user.is_staff:
            if request.method in SAFE_METHODS:
                return
            raise PermissionDenied(
                "permission_denied", "Staff can change an organisation only as a member."
            )
        require_role(self.membership, self.required_role(request))

    def get_queryset(self) -> models.QuerySet:
        qs = super().get_queryset()  # type: ignore[misc]
        if hasattr(qs, "for_tenant"):
            return qs.for_tenant(self.tenant)
        return qs.filter(tenant=self.tenant)


class TenantScopedViewSet(TenantScopedMixin, viewsets.GenericViewSet):
    """Base for tenant resources: add the ``mixins.*ModelMixin`` you need."""

    permission_classes = [IsAuthenticated, TokenScopePermission]
