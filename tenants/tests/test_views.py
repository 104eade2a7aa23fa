"""Portal views through Django's test client: pages render, forms call services, errors show.

Reads and writes go through the real services and selectors; only the fixtures below create
rows directly, to arrange a state quickly.
"""

from __future__ import annotations

import pytest
from django.urls import reverse

from tenants.models import Membership, Tenant, User

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"


def make_member(email: str, slug: str, role: str = "owner") -> tuple[User, Tenant]:
    user = User.objects.create_user(email=email, password=PASSWORD, full_name="Test Person")
    tenant, _ = Tenant.objects.get_or_create(slug=slug, defaults={"name": slug.title()})
    Membership.objects.create(user=user, tenant=tenant, role=role)
    return user, tenant


@pytest.fixture
def owner(client):
    user, tenant = make_member("owner@example.com", "acme")
    client.force_login(user)
    return user, tenant


def test_landing_renders_for_anonymous_users(client):
    response = client.get("/")
    assert response.status_code == 200
    body = response.content.decode()
    assert 'href="#main"' in body  # skip link
    assert reverse("portal:signup") in body
    assert "/static/vendor/htmx.min.js" in body


def test_landing_in_korean_when_the_language_cookie_says_so(client):
    client.cookies["django_language"] = "ko"
    body = client.get("/").content.decode()
    assert '<html lang="ko">' in body
    assert "조직 만들기" in body


def test_protected_pages_redirect_to_the_portal_login(client):
    for name in ("dashboard", "members", "tokens", "audit", "operations"):
        response = client.get(reverse(f"portal:{name}"))
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("portal:login"))


def test_dashboard_shows_organisation_plan_and_quotas(client, owner):
    _, tenant = owner
    body = client.get(reverse("portal:dashboard")).content.decode()
    assert tenant.name in body
    assert "<progress" in body
    assert f'max="{tenant.max_members}"' in body


def test_signup_form_names_the_weak_password_without_calling_a_service(client):
    response = client.post(reverse("portal:signup"), {
        "full_name": "Kim", "email": "kim@example.com", "password": "12345",
        "organisation": "Kim Energy", "slug": "kim-energy",
    })
    assert response.status_code == 400
    assert not User.objects.filter(email="kim@example.com").exists()
    form = response.context["form"]
    assert form.errors["password"]


def test_signup_rejects_a_malformed_slug(client):
    response = client.post(reverse("portal:signup"), {
        "full_name": "Kim", "email": "kim@example.com", "password": PASSWORD,
        "organisation": "Kim Energy", "slug": "Not A Slug!",
    })
    assert response.status_code == 400
    assert "slug" in response.context["form"].errors


def test_tenant_switch_changes_the_current_organisation(client):
    user, first = make_member("multi@example.com", "first-org")
    second = Tenant.objects.create(slug="second-org", name="Second Org")
    Membership.objects.create(user=user, tenant=second, role="viewer")
    client.force_login(user)
    body = client.get(reverse("portal:dashboard")).content.decode()
    assert 'id="tenant-switch"' in body
    client.post(reverse("portal:tenant-switch"), {"tenant": "second-org"})
    assert client.get(reverse("portal:dashboard")).context["tenant"] == second
    # A slug the user is not a member of changes nothing.
    Tenant.objects.create(slug="stranger", name="Stranger")
    client.post(reverse("portal:tenant-switch"), {"tenant": "stranger"})
    assert client.get(reverse("portal:dashboard")).context["tenant"] == second


def test_viewers_do_not_see_the_audit_log(client):
    user, _ = make_member("viewer@example.com", "acme", role="viewer")
    client.force_login(user)
    assert client.get(reverse("portal:audit")).status_code == 404


def test_audit_page_shows_chain_status(client, owner):
    response = client.get(reverse("portal:audit"))
    assert response.status_code == 200
    assert response.context["chain_ok"] is True


def test_another_tenants_operation_is_not_found(client, owner):
    from baas.operations import operation_create

    _, other = make_member("other@example.com", "other-org")
    op = operation_create(tenant=other, actor=None, kind="test.noop")
    response = client.get(reverse("portal:operation-detail", args=[op.pk]))
    assert response.status_code == 404


def test_operation_page_points_at_the_sse_stream(client, owner):
    from baas.operations import operation_create

    _, tenant = owner
    op = operation_create(tenant=tenant, actor=None, kind="test.noop")
    body = client.get(reverse("portal:operation-detail", args=[op.pk])).content.decode()
    assert f"/api/v1/operations/{op.pk}/events/?tenant={tenant.slug}" in body
    assert 'data-finished="0"' in body
