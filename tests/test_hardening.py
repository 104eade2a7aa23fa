"""The lower items of issue 8, each with the test that would have caught it."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from baas.audit import audit_record
from baas.testing import api_client_for
from deploy.tests.factories import NetworkFactory, NodeFactory
from tenants.tests.factories import MembershipFactory, OperationFactory, UserFactory

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def owner():
    return MembershipFactory(role="owner")


@pytest.fixture
def api(owner):
    return api_client_for(owner.user, owner.tenant)


# --- audit CSV export: no spreadsheet formulas ---------------------------------------------


@pytest.mark.parametrize("lead", ["=", "+", "-", "@", "\t", "\r"])
def test_audit_csv_cells_never_start_a_formula(owner, api, lead):
    audit_record(tenant=owner.tenant, actor=owner.user, action=f"{lead}HYPERLINK(\"x\")",
                 target=owner.tenant)
    body = api.get("/api/v1/audit-events/export/?as=csv").content.decode()
    rows = list(csv.DictReader(io.StringIO(body)))
    actions = [row["action"] for row in rows if "HYPERLINK" in row["action"]]
    assert actions == [f"'{lead}HYPERLINK(\"x\")"]
    for row in rows:
        for value in row.values():
            assert not (value or " ").startswith(("=", "+", "-", "@", "\t", "\r")), row


def test_audit_json_export_keeps_values_as_they_are(owner, api):
    audit_record(tenant=owner.tenant, actor=owner.user, action="=1+1", target=owner.tenant)
    body = api.get("/api/v1/audit-events/export/?as=json").json()
    assert "=1+1" in [row["action"] for row in body]


# --- Content-Security-Policy --------------------------------------------------------------


def test_portal_pages_carry_a_content_security_policy(client):
    response = client.get("/login/")
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert "frame-ancestors 'none'" in policy and "object-src 'none'" in policy


def test_templates_have_no_inline_script_or_event_handler():
    """The policy has no 'unsafe-inline': an inline script would silently stop working."""
    dirs = [ROOT / "templates", *ROOT.glob("*/templates")]
    offenders = []
    for directory in dirs:
        for path in directory.rglob("*.html"):
            text = path.read_text()
            for match in re.finditer(r"<script(?P<attrs>[^>]*)>", text):
                if "src=" not in match.group("attrs") and \
                        "application/json" not in match.group("attrs"):
                    offenders.append(f"{path}: inline <script>")
            if re.search(r"\son[a-z]+\s*=", text) or "javascript:" in text:
                offenders.append(f"{path}: event handler attribute or javascript: URL")
    assert not offenders, offenders


# --- node restarts are rate-limited ---------------------------------------------------------


def test_restarting_one_node_is_rate_limited(owner, api, monkeypatch):
    network = NetworkFactory(tenant=owner.tenant)
    node = NodeFactory(network=network)
    calls = []

    def fake_restart(**kwargs):
        calls.append(kwargs["node"].pk)
        return OperationFactory(tenant=owner.tenant)

    monkeypatch.setattr("deploy.services.node_restart", fake_restart)
    url = f"/api/v1/networks/{network.pk}/nodes/{node.pk}/restart/"
    codes = [api.post(url).status_code for _ in range(5)]
    assert codes[:3] == [202, 202, 202], codes
    assert codes[3:] == [429, 429]
    assert len(calls) == 3
    limited = api.post(url)
    assert limited.json()["error"]["code"] == "throttled" and "Retry-After" in limited


# --- integers are JSON integers --------------------------------------------------------------


@pytest.mark.parametrize("value", ["1", "1.0", 1.0, True, 2**70])
def test_a_network_size_must_be_a_json_integer(api, value):
    response = api.post("/api/v1/networks/", {"name": "net-a", "validators": value},
                        format="json")
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] in ("validation_failed", "invalid_size")


@pytest.mark.parametrize("value", ["5", 2**31, 10**20])
def test_staff_quotas_must_be_storable_integers(value):
    staff = UserFactory(is_staff=True)
    tenant = MembershipFactory().tenant
    response = api_client_for(staff).patch(f"/api/v1/staff/tenants/{tenant.slug}/",
                                           {"max_members": value}, format="json")
    assert response.status_code == 400, response.content
    assert "max_members" in response.json()["error"]["details"]


# --- unknown filters and values answer 400 ------------------------------------------------------


@pytest.mark.parametrize("query", ["stauts=running", "platform=maybe", "state=bogus",
                                   "since=yesterday"])
def test_unknown_filters_and_values_are_400(query):
    staff = UserFactory(is_staff=True)
    client = api_client_for(staff)
    url = "/api/v1/operations/" if query.startswith("state") else "/api/v1/staff/audit-events/"
    if url == "/api/v1/operations/":
        member = MembershipFactory(role="owner")
        client = api_client_for(member.user, member.tenant)
    response = client.get(f"{url}?{query}")
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "validation_failed"
    assert query.split("=")[0] in response.json()["error"]["details"]


def test_known_filters_and_paging_still_work(owner, api):
    audit_record(tenant=owner.tenant, actor=owner.user, action="x.y", target=owner.tenant)
    response = api.get("/api/v1/audit-events/?action=x.y&page=1&page_size=5")
    assert response.status_code == 200 and response.json()["count"] == 1


@pytest.mark.parametrize("slug", ["\x00", "a" * 200, "ünï"])
def test_a_tenant_name_that_cannot_be_a_slug_is_404(owner, slug):
    client = api_client_for(owner.user)
    by_header = client.get("/api/v1/members/", HTTP_X_TENANT=slug)
    assert by_header.status_code == 404, by_header.content
    assert by_header.json()["error"]["code"] == "not_found"
    by_query = client.get("/api/v1/members/", {"tenant": slug})
    assert by_query.status_code in (400, 404)  # a NUL is refused with the query string


# --- names ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("char", ["\u202e", "\u200b", "\u200d", "\u2066", "\ufeff", "\x07",
                                  "\u2028", "\ue000"])
def test_names_refuse_invisible_and_control_characters(owner, api, char):
    cases = [
        ("post", "/api/v1/tokens/", {"name": f"ci{char}bot", "scopes": ["read"]}, "name"),
        ("patch", "/api/v1/tenant/", {"name": f"Acme{char}Ltd"}, "name"),
    ]
    for method, url, body, field in cases:
        response = getattr(api, method)(url, body, format="json")
        assert response.status_code == 400, (url, response.content)
        assert field in response.json()["error"]["details"]
    from rest_framework.test import APIClient

    signup = APIClient().post("/api/v1/auth/signup/", {
        "email": "new@example.test", "password": "correct horse battery staple",
        "organisation_name": f"Evil{char}Corp", "full_name": "A"}, format="json")
    assert signup.status_code == 400
    assert "organisation_name" in signup.json()["error"]["details"]


def test_ordinary_names_in_any_script_are_fine(api):
    for name in ("Ünïcödé GmbH", "株式会社", "O'Brien & Sons", "مؤسسة"):
        assert api.patch("/api/v1/tenant/", {"name": name}, format="json").status_code == 200


# --- schema --------------------------------------------------------------------------------------


def test_schema_names_the_two_invitation_shapes_apart_and_describes_the_gateway():
    from drf_spectacular.drainage import GENERATOR_STATS
    from drf_spectacular.generators import SchemaGenerator

    GENERATOR_STATS.reset()
    with GENERATOR_STATS.silence():
        schema = SchemaGenerator().get_schema(request=None, public=True)
    collisions = [w for w in GENERATOR_STATS._warn_cache if "identical names" in w]
    assert not collisions, collisions
    components = schema["components"]["schemas"]
    assert "MemberInvitation" in components and "Invitation" in components
    assert "email" in components["MemberInvitation"]["properties"]
    assert "invited_tenant" in components["Invitation"]["properties"]
    for path, method in [("/api/v1/networks/{network_pk}/gateway/tx/", "post"),
                         ("/api/v1/networks/{network_pk}/gateway/query/", "post"),
                         ("/api/v1/networks/{network_pk}/gateway/blocks/", "get"),
                         ("/api/v1/networks/{network_pk}/gateway/blocks/{height}/", "get"),
                         ("/api/v1/networks/{network_pk}/gateway/txs/{tx_hash}/", "get")]:
        responses = schema["paths"][path][method]["responses"]
        assert "200" in responses and responses["200"].get("content"), (path, responses)


def test_settings_keep_the_policy_strict():
    directives = django_settings.CONTENT_SECURITY_POLICY["DIRECTIVES"]
    assert all("'unsafe-inline'" not in v and "'unsafe-eval'" not in v
               for v in directives.values())
