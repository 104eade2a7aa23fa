"""The tenants admin changes nothing behind the services' back (code review F6)."""

from __future__ import annotations

import pytest

from tenants import services
from tenants.models import ApiToken, AuditEvent, Invitation, Membership, Tenant
from tenants.tests.factories import InvitationFactory, MembershipFactory, TenantFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client, django_user_model):
    user = django_user_model.objects.create_superuser(email="staff@example.test",
                                                      password="correct horse battery")
    client.force_login(user)
    client.user = user
    return client


def test_a_token_cannot_be_moved_to_another_tenant_or_given_scopes(staff_client):
    owner = MembershipFactory(role="owner")
    token, _ = services.token_create(tenant=owner.tenant, actor=owner.user, membership=owner,
                                     name="app", scopes=["read"])
    other = TenantFactory()
    response = staff_client.post(f"/admin/tenants/apitoken/{token.pk}/change/", {
        "name": "app", "tenant": other.pk, "scopes": '["read", "write", "deploy"]',
        "created_by": owner.user.pk})
    assert response.status_code == 403
    token.refresh_from_db()
    assert (token.tenant_id, token.scopes) == (owner.tenant_id, ["read"])
    assert staff_client.get(f"/admin/tenants/apitoken/{token.pk}/change/").status_code == 200


def test_staff_revoke_a_token_through_the_service_with_an_audit_record(staff_client):
    owner = MembershipFactory(role="owner")
    token, _ = services.token_create(tenant=owner.tenant, actor=owner.user, membership=owner,
                                     name="app", scopes=["read"])
    response = staff_client.post("/admin/tenants/apitoken/", {
        "action": "revoke", "_selected_action": [token.pk]})
    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None
    event = AuditEvent.objects.get(action="token.revoked", target_id=str(token.pk))
    assert event.actor_email == "staff@example.test" and event.tenant_id == owner.tenant_id


def test_the_membership_inline_cannot_change_roles(staff_client):
    owner = MembershipFactory(role="owner")
    page = staff_client.get(f"/admin/tenants/tenant/{owner.tenant_id}/change/")
    assert b'name="memberships-0-role"' not in page.content
    assert b'name="memberships-0-DELETE"' not in page.content
    assert owner.user.email.encode() in page.content  # still visible


def test_quota_changes_go_through_the_service_and_are_audited(staff_client):
    tenant = TenantFactory()
    data = {"plan": tenant.plan, "max_networks": tenant.max_networks,
            "max_validators_per_network": tenant.max_validators_per_network,
            "max_members": 42, "max_tokens": tenant.max_tokens, "name": "Renamed",
            "memberships-TOTAL_FORMS": "0", "memberships-INITIAL_FORMS": "0"}
    response = staff_client.post(f"/admin/tenants/tenant/{tenant.pk}/change/", data)
    assert response.status_code == 302, response.content[:2000]
    tenant.refresh_from_db()
    assert tenant.max_members == 42
    assert tenant.name != "Renamed"  # read-only
    event = AuditEvent.objects.get(action="tenant.quotas_changed", tenant=tenant)
    assert event.metadata == {"max_members": 42}


@pytest.mark.parametrize("model", ["membership", "invitation", "apitoken", "tenant"])
def test_nothing_is_added_or_deleted_in_the_admin(staff_client, model):
    owner = MembershipFactory(role="owner")
    objects = {"membership": owner, "invitation": InvitationFactory(tenant=owner.tenant),
               "tenant": owner.tenant,
               "apitoken": services.token_create(tenant=owner.tenant, actor=owner.user,
                                                 membership=owner, name="x",
                                                 scopes=["read"])[0]}
    obj = objects[model]
    counts = [M.objects.count() for M in (Membership, Invitation, ApiToken, Tenant)]
    assert staff_client.get(f"/admin/tenants/{model}/add/").status_code in (403, 404)
    assert staff_client.post(f"/admin/tenants/{model}/{obj.pk}/delete/",
                             {"post": "yes"}).status_code in (403, 404)
    assert [M.objects.count() for M in (Membership, Invitation, ApiToken, Tenant)] == counts
