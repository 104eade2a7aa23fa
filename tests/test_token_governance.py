"""One generic check over the URL configuration: an API token, whatever its scopes and its
creator's role, can never manage people, roles, invitations, tokens or the organisation.

Every ``/api/v1/`` route is visited with an owner's token holding every scope. A route that
governs people (by its path, listed independently of the code's own rule, or by the model its
view serves) must answer ``403 session_required`` to every unsafe method and change nothing;
the token list refuses reads too. A new route over members, invitations, tokens or the tenant
is covered without editing this file.
"""

from __future__ import annotations

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from baas.testing import api_client_for, token_client
from tenants import services
from tenants.models import ApiToken, AuditEvent, Invitation, Membership, Tenant
from tenants.permissions import GOVERNANCE_MODELS, _view_model_label
from tenants.tests.factories import InvitationFactory, MembershipFactory

pytestmark = pytest.mark.django_db

# Path prefixes (after /api/v1/) that manage people, credentials or the organisation.
GOVERNANCE_PREFIXES = ("members/", "invitations/", "tokens/", "tenant/", "staff/tenants/")
UNSAFE = ("post", "put", "patch", "delete")
ALL_SCOPES = ["read", "write", "deploy"]


def _routes(resolver=None, prefix=""):
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        route = str(entry.pattern).removeprefix("^").removesuffix("$")
        if isinstance(entry, URLResolver):
            yield from _routes(entry, prefix + route)
        elif isinstance(entry, URLPattern):
            full = "/" + prefix + route
            if full.startswith("/api/v1/") and "\\." not in full and "(?P<format>" not in full:
                yield full, entry.callback


def _view_class(callback):
    return getattr(callback, "cls", None) or getattr(callback, "view_class", None)


def _methods(callback) -> set[str]:
    actions = getattr(callback, "actions", None)
    if actions:
        return set(actions) - {"head", "options"}
    cls = _view_class(callback)
    return {m for m in ("get", "post", "put", "patch", "delete") if hasattr(cls, m)}


def _is_governance(path: str, callback) -> bool:
    rest = path.removeprefix("/api/v1/")
    if rest.startswith(GOVERNANCE_PREFIXES):
        return True
    cls = _view_class(callback)
    if cls is None:
        return False
    return _view_model_label(cls) in GOVERNANCE_MODELS or getattr(cls, "manages_people", False)


@pytest.fixture
def world():
    owner = MembershipFactory(role="owner")
    tenant = owner.tenant
    other = MembershipFactory(tenant=tenant, role="owner")
    member = MembershipFactory(tenant=tenant, role="developer")
    invitation = InvitationFactory(tenant=tenant)
    token, raw = services.token_create(tenant=tenant, actor=owner.user, membership=owner,
                                       name="app", scopes=ALL_SCOPES)
    return {"owner": owner, "other": other, "member": member, "invitation": invitation,
            "token": token, "raw": raw, "tenant": tenant}


def _fill(path: str, w) -> str:
    rest = path.removeprefix("/api/v1/")
    value = {"members/": w["member"].pk, "invitations/": w["invitation"].pk,
             "tokens/": w["token"].pk, "staff/tenants/": w["tenant"].slug}
    for prefix, pk in value.items():
        if rest.startswith(prefix):
            return re.sub(r"<[^>]+>|\(\?P<[^>]+>[^)]+\)", str(pk), path)
    return re.sub(r"<[^>]+>|\(\?P<[^>]+>[^)]+\)", "1", path)


def _snapshot():
    return (
        sorted(Membership.objects.values_list("pk", "role")),
        sorted(Invitation.objects.values_list("pk", "revoked_at", "accepted_at")),
        sorted(ApiToken.objects.values_list("pk", "revoked_at", "tenant_id", "scopes")),
        sorted(Tenant.objects.values_list("pk", "name", "plan", "max_members")),
    )


def test_the_url_configuration_has_governance_routes():
    found = [p for p, cb in _routes() if _is_governance(p, cb)]
    # A guard against a test that checks nothing: the known routes are seen.
    for expected in ("/api/v1/members/", "/api/v1/invitations/", "/api/v1/tokens/",
                     "/api/v1/tenant/", "/api/v1/invitations/accept/"):
        assert expected in found, found


def test_tokens_of_every_scope_cannot_manage_people(world):
    client = token_client(world["raw"])
    bodies = {"role": "owner", "email": "new-owner@example.test", "name": "x",
              "scopes": ALL_SCOPES, "token": "x", "password": "p" * 12, "max_members": 99,
              "plan": "enterprise"}
    checked = []
    before = _snapshot()
    audit_before = AuditEvent.objects.count()
    for path, callback in _routes():
        if not _is_governance(path, callback):
            continue
        url = _fill(path, world)
        for method in sorted(_methods(callback)):
            if method not in UNSAFE and not path.removeprefix("/api/v1/").startswith("tokens/"):
                continue
            response = getattr(client, method)(url, bodies, format="json")
            checked.append((method, url))
            assert response.status_code == 403, (method, url, response.content)
            assert response.json()["error"]["code"] == "session_required", (method, url)
    assert len(checked) >= 8, checked
    assert _snapshot() == before
    assert AuditEvent.objects.count() == audit_before


def test_the_takeover_from_the_issue_is_refused(world):
    """A read+write token invited an owner, who removed the original one (issue 8)."""
    _, raw = services.token_create(tenant=world["tenant"], actor=world["owner"].user,
                                   membership=world["owner"], name="app",
                                   scopes=["read", "write"])
    client = token_client(raw)
    invite = client.post("/api/v1/invitations/", {"email": "evil@example.test", "role": "owner"},
                         format="json")
    assert invite.status_code == 403 and invite.json()["error"]["code"] == "session_required"
    demote = client.patch(f"/api/v1/members/{world['other'].pk}/", {"role": "viewer"},
                          format="json")
    assert demote.status_code == 403
    assert client.delete(f"/api/v1/members/{world['member'].pk}/").status_code == 403
    assert Membership.objects.filter(tenant=world["tenant"]).count() == 3


def test_tokens_still_read_what_they_may_and_sessions_still_manage(world):
    client = token_client(world["raw"])
    assert client.get("/api/v1/tenant/").status_code == 200
    assert client.get("/api/v1/members/").status_code == 200
    assert client.get("/api/v1/operations/").status_code == 200
    session = api_client_for(world["owner"].user, world["tenant"])
    changed = session.patch(f"/api/v1/members/{world['member'].pk}/", {"role": "viewer"},
                            format="json")
    assert changed.status_code == 200
