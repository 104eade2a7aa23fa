"""The tenants API v1 over HTTP: accounts, tenant, members, invitations, tokens, staff."""

from __future__ import annotations

import secrets
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from baas.audit import audit_record
from baas.testing import api_client_for, token_client
from tenants import links, services
from tenants.models import ApiToken, Invitation, Membership
from tenants.tests.factories import (
    PASSWORD,
    InvitationFactory,
    MembershipFactory,
    OperationFactory,
    TenantFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


def test_signup_login_me_logout():
    client = APIClient(enforce_csrf_checks=True)
    created = client.post("/api/v1/auth/signup/", {
        "email": "ceo@startup.test", "password": PASSWORD, "organisation_name": "Startup",
        "full_name": "C. E. O.",
    }, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["memberships"][0]["role"] == "owner"
    assert client.get("/api/v1/me/").status_code == 401  # sign-up does not sign in
    bad = client.post("/api/v1/auth/login/", {"email": "ceo@startup.test", "password": "nope"},
                      format="json")
    assert bad.status_code == 401 and bad.json()["error"]["code"] == "invalid_credentials"
    ok = client.post("/api/v1/auth/login/", {"email": "CEO@startup.test", "password": PASSWORD},
                     format="json")
    assert ok.status_code == 200
    me = client.get("/api/v1/me/").json()
    assert me["email"] == "ceo@startup.test" and me["memberships"][0]["tenant"]["slug"] == "startup"
    csrf = client.cookies["csrftoken"].value
    assert client.post("/api/v1/auth/logout/", HTTP_X_CSRFTOKEN=csrf).status_code == 204
    assert client.get("/api/v1/me/").status_code == 401


def test_signup_weak_password_and_taken_email():
    UserFactory(email="taken@example.test")
    client = APIClient()
    weak = client.post("/api/v1/auth/signup/", {"email": "a@example.test", "password": "abc",
                                                 "organisation_name": "A"}, format="json")
    assert weak.status_code == 400 and weak.json()["error"]["code"] == "weak_password"
    assert weak.json()["error"]["details"]["password"]
    taken = client.post("/api/v1/auth/signup/", {"email": "taken@example.test",
                                                  "password": PASSWORD, "organisation_name": "B"},
                        format="json")
    assert taken.status_code == 409 and taken.json()["error"]["code"] == "email_taken"


def test_current_tenant_shows_quotas_and_usage():
    owner = MembershipFactory(role="owner")
    MembershipFactory(tenant=owner.tenant, role="viewer")
    body = api_client_for(owner.user).get("/api/v1/tenant/").json()
    assert body["slug"] == owner.tenant.slug
    assert body["quotas"]["max_members"] == {"limit": owner.tenant.max_members, "used": 2}
    renamed = api_client_for(owner.user).patch("/api/v1/tenant/", {"name": "Renamed"},
                                               format="json")
    assert renamed.json()["name"] == "Renamed"


def test_several_memberships_need_a_tenant_header():
    user = UserFactory()
    a = MembershipFactory(user=user).tenant
    MembershipFactory(user=user)
    client = api_client_for(user)
    response = client.get("/api/v1/tenant/")
    assert response.status_code == 400 and response.json()["error"]["code"] == "tenant_required"
    assert client.get("/api/v1/tenant/", HTTP_X_TENANT=a.slug).json()["slug"] == a.slug
    assert client.get(f"/api/v1/tenant/?tenant={a.slug}").json()["slug"] == a.slug
    stranger = TenantFactory()
    assert client.get("/api/v1/tenant/", HTTP_X_TENANT=stranger.slug).status_code == 404


def test_members_role_change_and_last_owner_rule():
    owner = MembershipFactory(role="owner")
    viewer = MembershipFactory(tenant=owner.tenant, role="viewer")
    client = api_client_for(owner.user)
    assert client.patch(f"/api/v1/members/{viewer.pk}/", {"role": "admin"},
                        format="json").json()["role"] == "admin"
    last = client.patch(f"/api/v1/members/{owner.pk}/", {"role": "viewer"}, format="json")
    assert last.status_code == 409 and last.json()["error"]["code"] == "last_owner"
    by_viewer = api_client_for(MembershipFactory(tenant=owner.tenant, role="viewer").user)
    assert by_viewer.delete(f"/api/v1/members/{viewer.pk}/").status_code == 403
    assert client.delete(f"/api/v1/members/{viewer.pk}/").status_code == 204


def test_invite_accept_over_api(django_capture_on_commit_callbacks):
    admin = MembershipFactory(role="admin")
    client = api_client_for(admin.user)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post("/api/v1/invitations/", {"email": "dev@example.test",
                                                         "role": "developer"}, format="json",
                               HTTP_IDEMPOTENCY_KEY="invite-1")
    assert response.status_code == 201 and len(callbacks) == 1
    body = response.json()
    assert body["status"] == "pending" and body["operation"]["state"] == "queued"
    again = client.post("/api/v1/invitations/", {"email": "dev@example.test"}, format="json",
                        HTTP_IDEMPOTENCY_KEY="invite-1")
    assert again.json()["id"] == body["id"]  # same key, same invitation, nothing new
    assert Invitation.objects.count() == 1
    duplicate = client.post("/api/v1/invitations/", {"email": "dev@example.test"}, format="json")
    assert duplicate.status_code == 409
    assert duplicate.json()["error"]["code"] == "invitation_pending"

    invitation = Invitation.objects.get()
    token = links.invitation_link(invitation=invitation).rstrip("/").rsplit("/", 1)[1]
    accepted = APIClient().post("/api/v1/invitations/accept/",
                                {"token": token, "password": PASSWORD}, format="json")
    assert accepted.status_code == 201 and accepted.json()["role"] == "developer"
    reused = APIClient().post("/api/v1/invitations/accept/",
                              {"token": token, "password": PASSWORD}, format="json")
    assert reused.status_code == 400
    assert reused.json()["error"]["code"] == "invitation_accepted"


def test_developer_cannot_invite():
    dev = MembershipFactory(role="developer")
    response = api_client_for(dev.user).post("/api/v1/invitations/",
                                             {"email": "x@example.test"}, format="json")
    assert response.status_code == 403


def _token(membership, scopes, **kw):
    return services.token_create(tenant=membership.tenant, actor=membership.user,
                                 membership=membership, name="t", scopes=scopes, **kw)


def test_token_is_shown_once_and_stored_hashed():
    dev = MembershipFactory(role="developer")
    client = api_client_for(dev.user)
    created = client.post("/api/v1/tokens/", {"name": "ci", "scopes": ["read"]}, format="json")
    assert created.status_code == 201
    raw = created.json()["token"]
    assert raw.startswith("baas_")
    listed = client.get("/api/v1/tokens/").json()["results"]
    assert "token" not in listed[0] and raw not in str(listed)
    assert raw not in str(ApiToken.objects.values_list())


def test_token_scopes_are_enforced_by_method():
    dev = MembershipFactory(role="developer")
    op = OperationFactory(tenant=dev.tenant, state="running")
    _, read_only = _token(dev, ["read"])
    _, write_only = _token(dev, ["write"])
    reader = token_client(read_only)
    assert reader.get("/api/v1/operations/").status_code == 200
    denied = reader.post(f"/api/v1/operations/{op.pk}/cancel/")
    assert denied.status_code == 403
    assert denied.json()["error"]["code"] == "insufficient_scope"
    assert denied.json()["error"]["details"] == {"required_scope": "write"}
    assert token_client(write_only).get("/api/v1/operations/").status_code == 403
    assert token_client(write_only).post(f"/api/v1/operations/{op.pk}/cancel/").status_code == 200


def test_token_cannot_manage_tokens_and_sees_only_its_tenant():
    dev = MembershipFactory(role="developer")
    _, raw = _token(dev, ["read", "write"])
    response = token_client(raw).post("/api/v1/tokens/", {"name": "x", "scopes": ["read"]},
                                      format="json")
    assert response.status_code == 403 and response.json()["error"]["code"] == "session_required"
    other = TenantFactory()
    named = token_client(raw).get("/api/v1/tenant/", HTTP_X_TENANT=other.slug)
    assert named.json()["slug"] == dev.tenant.slug  # the token's tenant, header ignored


def test_has_scope_deploy():
    from rest_framework.test import APIRequestFactory

    from tenants.permissions import HasScope

    dev = MembershipFactory(role="developer")
    token, _ = _token(dev, ["read", "write"])
    request = APIRequestFactory().post("/")
    request.auth = token
    with pytest.raises(Exception) as exc:
        HasScope("deploy")().has_permission(request, None)
    assert exc.value.code == "insufficient_scope"
    token.scopes = ["deploy"]
    assert HasScope("deploy")().has_permission(request, None)


@pytest.mark.parametrize("mutate", ["revoke", "expire", "leave", "garbage"])
def test_unusable_tokens_are_401(mutate):
    dev = MembershipFactory(role="developer")
    MembershipFactory(tenant=dev.tenant, role="owner")
    token, raw = _token(dev, ["read"])
    assert token_client(raw).get("/api/v1/operations/").status_code == 200
    if mutate == "revoke":
        api_client_for(dev.user).delete(f"/api/v1/tokens/{token.pk}/")
    elif mutate == "expire":
        ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(1))
    elif mutate == "leave":
        Membership.objects.filter(pk=dev.pk).delete()
    else:
        raw = raw[:-4] + "AAAA"
    response = token_client(raw).get("/api/v1/operations/")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"


def test_token_last_used_is_recorded():
    dev = MembershipFactory(role="developer")
    token, raw = _token(dev, ["read"])
    assert token.last_used_at is None
    token_client(raw).get("/api/v1/operations/")
    token.refresh_from_db()
    assert token.last_used_at is not None


def test_staff_see_all_tenants_and_set_quotas():
    staff = UserFactory(is_staff=True)
    a, b = TenantFactory(), TenantFactory()
    client = api_client_for(staff)
    slugs = {t["slug"] for t in client.get("/api/v1/staff/tenants/").json()["results"]}
    assert {a.slug, b.slug} <= slugs
    patched = client.patch(f"/api/v1/staff/tenants/{a.slug}/", {"max_networks": 7},
                           format="json")
    assert patched.json()["quotas"]["max_networks"]["limit"] == 7
    # Read-only access to any tenant's resources by naming it.
    assert client.get("/api/v1/members/", HTTP_X_TENANT=b.slug).status_code == 200
    assert client.post("/api/v1/invitations/", {"email": "x@example.test"}, format="json",
                       HTTP_X_TENANT=b.slug).status_code == 403
    member = api_client_for(MembershipFactory().user)
    assert member.get("/api/v1/staff/tenants/").status_code == 403


LIST_ENDPOINTS = {
    "/api/v1/members/": lambda t, u: MembershipFactory(tenant=t, role="viewer"),
    "/api/v1/invitations/": lambda t, u: InvitationFactory(tenant=t, invited_by=u),
    "/api/v1/tokens/": lambda t, u: ApiToken.objects.create(
        tenant=t, name="x", prefix=secrets.token_hex(6), token_hash="0" * 64,
        scopes=["read"], created_by=u),
    "/api/v1/audit-events/": lambda t, u: audit_record(tenant=t, actor=u, action="x", target=t),
    "/api/v1/operations/": lambda t, u: OperationFactory(tenant=t, actor=u),
}


@pytest.mark.parametrize("url", list(LIST_ENDPOINTS))
def test_list_query_count_does_not_grow_with_rows(url, django_assert_num_queries):
    owner = MembershipFactory(role="owner")
    make = LIST_ENDPOINTS[url]
    client = api_client_for(owner.user)

    def count_queries(n):
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        for _ in range(n):
            make(owner.tenant, owner.user)
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(url)
        assert response.status_code == 200
        return len(ctx.captured_queries), response.json()["count"]

    small, rows_small = count_queries(2)
    large, rows_large = count_queries(18)
    assert rows_large >= rows_small + 18
    assert large == small, f"{url}: {small} queries at {rows_small} rows, {large} at {rows_large}"
    with django_assert_num_queries(small):
        client.get(url)


def test_resend_verification(django_capture_on_commit_callbacks):
    unverified = UserFactory(email_verified_at=None)
    client = api_client_for(unverified)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert client.post("/api/v1/auth/verify-email/resend/").status_code == 202
    assert len(callbacks) == 1
    done = api_client_for(UserFactory()).post("/api/v1/auth/verify-email/resend/")
    assert done.status_code == 409 and done.json()["error"]["code"] == "already_verified"
