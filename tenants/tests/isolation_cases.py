"""Tenant-isolation cases for the tenants and baas APIs (see ``baas.testing``)."""

from __future__ import annotations

from baas.audit import audit_record
from baas.testing import IsolationCase
from tenants import services
from tenants.models import Membership
from tenants.tests.factories import InvitationFactory, MembershipFactory, OperationFactory


def _member(tenant, owner):
    return MembershipFactory(tenant=tenant, role="viewer")


def _token(tenant, owner):
    membership = Membership.objects.get(tenant=tenant, user=owner)
    token, _raw = services.token_create(tenant=tenant, actor=owner, membership=membership,
                                        name="iso", scopes=["read"])
    return token


def _audit(tenant, owner):
    return audit_record(tenant=tenant, actor=owner, action="test.isolation", target=tenant)


CASES = [
    IsolationCase("members", _member, "/api/v1/members/",
                  lambda o: f"/api/v1/members/{o.pk}/", ("get", "patch", "delete")),
    IsolationCase("invitations", lambda t, o: InvitationFactory(tenant=t),
                  "/api/v1/invitations/", lambda o: f"/api/v1/invitations/{o.pk}/",
                  ("get", "delete")),
    IsolationCase("tokens", _token, "/api/v1/tokens/", lambda o: f"/api/v1/tokens/{o.pk}/",
                  ("get", "delete")),
    IsolationCase("audit-events", _audit, "/api/v1/audit-events/",
                  lambda o: f"/api/v1/audit-events/{o.pk}/"),
    IsolationCase("operations", lambda t, o: OperationFactory(tenant=t), "/api/v1/operations/",
                  lambda o: f"/api/v1/operations/{o.pk}/", ("get",)),
    IsolationCase("operation-cancel", lambda t, o: OperationFactory(tenant=t),
                  "/api/v1/operations/", lambda o: f"/api/v1/operations/{o.pk}/cancel/",
                  ("post",)),
    IsolationCase("operation-events", lambda t, o: OperationFactory(tenant=t),
                  "/api/v1/operations/", lambda o: f"/api/v1/operations/{o.pk}/events/",
                  ("get",)),
]
