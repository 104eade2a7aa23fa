"""Reads for the tenants app. Every function takes the tenant it reads from."""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone

from tenants.models import ApiToken, AuditEvent, Invitation, Membership, Tenant, User


def member_count(tenant: Tenant) -> int:
    return Membership.objects.filter(tenant=tenant).count()


def pending_invitation_count(tenant: Tenant) -> int:
    return invitation_list(tenant=tenant, status="pending").count()


def active_token_count(tenant: Tenant) -> int:
    return token_list(tenant=tenant, active=True).count()


def tenant_list_for_user(*, user: User) -> QuerySet[Tenant]:
    """Tenants the user belongs to; staff see every tenant."""
    if user.is_staff:
        return Tenant.objects.all()
    return Tenant.objects.filter(memberships__user=user).distinct()


def membership_list(*, tenant: Tenant) -> QuerySet[Membership]:
    return Membership.objects.for_tenant(tenant).select_related("user")


def membership_get(*, tenant: Tenant, membership_id: int) -> Membership:
    return membership_list(tenant=tenant).get(pk=membership_id)


def invitation_list(*, tenant: Tenant, status: str | None = None) -> QuerySet[Invitation]:
    qs = Invitation.objects.for_tenant(tenant).select_related("invited_by")
    now = timezone.now()
    if status == "pending":
        qs = qs.filter(accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=now)
    elif status == "accepted":
        qs = qs.filter(accepted_at__isnull=False)
    elif status == "revoked":
        qs = qs.filter(revoked_at__isnull=False)
    elif status == "expired":
        qs = qs.filter(accepted_at__isnull=True, revoked_at__isnull=True, expires_at__lte=now)
    return qs


def token_list(*, tenant: Tenant, active: bool | None = None) -> QuerySet[ApiToken]:
    qs = ApiToken.objects.for_tenant(tenant).select_related("created_by")
    active_q = Q(revoked_at__isnull=True) & (
        Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now())
    )
    if active is True:
        qs = qs.filter(active_q)
    elif active is False:
        qs = qs.exclude(active_q)
    return qs


def audit_event_list(*, tenant: Tenant | None, filters: dict[str, Any] | None = None):
    """A tenant's events (or all events for ``tenant=None``, staff only), newest first."""
    qs = AuditEvent.objects.select_related("tenant")
    if tenant is not None:
        qs = qs.for_tenant(tenant)
    filters = filters or {}
    if filters.get("action"):
        qs = qs.filter(action=filters["action"])
    if filters.get("actor"):
        qs = qs.filter(actor_email__iexact=filters["actor"])
    if filters.get("since"):
        qs = qs.filter(created_at__gte=filters["since"])
    if filters.get("until"):
        qs = qs.filter(created_at__lt=filters["until"])
    return qs
