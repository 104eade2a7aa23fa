from __future__ import annotations

import uuid

import pytest
from rest_framework.test import APIClient

from deploy.choices import NetworkStatus
from deploy.models import Network
from deploy.tests.factories import MembershipFactory, NetworkFactory, NodeFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_broker(monkeypatch):
    for name in ("network_provision_task", "network_start_task", "network_stop_task",
                 "network_delete_task", "node_restart_task"):
        monkeypatch.setattr(f"deploy.tasks.{name}.delay", lambda *a: None)


def client_for(member) -> APIClient:
    client = APIClient()
    client.force_authenticate(user=member.user)
    return client


def test_create_answers_202_with_the_operation(owner):
    res = client_for(owner).post(
        "/api/v1/networks/", {"name": "alpha", "validators": 4, "driver": "local"}, format="json"
    )
    assert res.status_code == 202, res.content
    body = res.json()
    assert body["network"]["name"] == "alpha" and body["network"]["status"] == "requested"
    assert body["operation"]["kind"] == "network.create"
    assert res["Location"] == f"/api/v1/operations/{body['operation']['id']}/"


def test_idempotency_key_header_replays(owner):
    client = client_for(owner)
    payload = {"name": "beta", "validators": 1}
    first = client.post("/api/v1/networks/", payload, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    second = client.post("/api/v1/networks/", payload, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    assert first.json()["network"]["id"] == second.json()["network"]["id"]
    assert Network.objects.count() == 1


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        ({"name": "x", "validators": "many"}, 400, "validation_failed"),
        ({"validators": 4}, 400, "validation_failed"),
        ({"name": "x", "validators": 0}, 400, "invalid_size"),
        ({"name": "x", "validators": 4, "driver": "mainframe"}, 400, "driver_unknown"),
        ({"name": "UPPER case", "validators": 1}, 400, "invalid_name"),
        ({"name": "x", "validators": 5}, 409, "quota_exceeded"),  # free plan: 4 per network
    ],
)
def test_bad_input_gets_a_stable_code(owner, payload, status, code):
    res = client_for(owner).post("/api/v1/networks/", payload, format="json")
    assert res.status_code == status, res.content
    assert res.json()["error"]["code"] == code


def test_malformed_json_is_a_400(owner):
    res = client_for(owner).post(
        "/api/v1/networks/", data="{not json", content_type="application/json"
    )
    assert res.status_code == 400
    assert res.json()["error"]["code"] == "malformed_request"


def test_duplicate_name_is_409(owner):
    client = client_for(owner)
    client.post("/api/v1/networks/", {"name": "dup", "validators": 1}, format="json")
    res = client.post("/api/v1/networks/", {"name": "dup", "validators": 1}, format="json")
    assert res.status_code == 409 and res.json()["error"]["code"] == "network_name_taken"


def test_viewer_reads_but_cannot_create(db):
    viewer = MembershipFactory(role="viewer")
    NetworkFactory(tenant=viewer.tenant)
    client = client_for(viewer)
    assert client.get("/api/v1/networks/").status_code == 200
    res = client.post("/api/v1/networks/", {"name": "n", "validators": 1}, format="json")
    assert res.status_code == 403 and res.json()["error"]["code"] == "permission_denied"


def test_list_hides_deleted_and_detail_shows_error(owner):
    NetworkFactory(tenant=owner.tenant, name="gone", status=NetworkStatus.DELETED)
    failed = NetworkFactory(tenant=owner.tenant, name="bad", status=NetworkStatus.FAILED,
                            error_code="node_unhealthy", error_message="node 2 never answered")
    client = client_for(owner)
    names = [n["name"] for n in client.get("/api/v1/networks/").json()["results"]]
    assert names == ["bad"]
    detail = client.get(f"/api/v1/networks/{failed.pk}/").json()
    assert detail["error"] == {"code": "node_unhealthy", "message": "node 2 never answered"}


def test_lifecycle_actions_answer_202_or_409(owner):
    network = NetworkFactory(tenant=owner.tenant, status=NetworkStatus.RUNNING)
    client = client_for(owner)
    res = client.post(f"/api/v1/networks/{network.pk}/start/")
    assert res.status_code == 409 and res.json()["error"]["code"] == "invalid_transition"
    res = client.post(f"/api/v1/networks/{network.pk}/stop/")
    assert res.status_code == 202 and res.json()["network"]["status"] == "stopping"
    res = client.delete(f"/api/v1/networks/{network.pk}/")
    assert res.status_code == 202 and res.json()["operation"]["kind"] == "network.delete"


def test_nodes_and_logs(owner, fake_driver):
    network = NetworkFactory(tenant=owner.tenant)
    node = NodeFactory(network=network, rpc_port=26657)
    fake_driver.nodes[(str(network.pk), str(node.pk))] = {
        "running": True, "rpc": "x", "restarts": 0, "install": "t", "files": {}}
    client = client_for(owner)
    nodes = client.get(f"/api/v1/networks/{network.pk}/nodes/").json()["results"]
    assert [n["moniker"] for n in nodes] == [node.moniker]
    assert "sealed" not in str(nodes) and "home_config" not in str(nodes)
    res = client.get(f"/api/v1/networks/{network.pk}/nodes/{node.pk}/logs/?tail=5")
    assert res.status_code == 200 and res.json()["lines"] == ["line 1", "line 2"]
    res = client.get(f"/api/v1/networks/{network.pk}/nodes/{node.pk}/logs/?tail=lots")
    assert res.status_code == 400 and res.json()["error"]["code"] == "invalid_tail"


def test_gateway_needs_a_running_network(owner):
    network = NetworkFactory(tenant=owner.tenant, status=NetworkStatus.STOPPED)
    res = client_for(owner).post(
        f"/api/v1/networks/{network.pk}/gateway/query/",
        {"chaincode": "kv", "function": "get", "args": ["a"]}, format="json",
    )
    assert res.status_code == 409 and res.json()["error"]["code"] == "network_not_running"


def test_gateway_rejects_malformed_tx_bodies(owner):
    network = NetworkFactory(tenant=owner.tenant)
    NodeFactory(network=network, rpc_url="http://127.0.0.1:9")
    client = client_for(owner)
    url = f"/api/v1/networks/{network.pk}/gateway/tx/"
    for body in ({"tx": "@@@"}, {"chaincode": "kv"}, {"chaincode": "kv", "function": "put",
                                                       "args": "nope"}):
        res = client.post(url, body, format="json")
        assert res.status_code == 400, (body, res.content)
        assert res.json()["error"]["code"] == "invalid_tx"


def test_gateway_unreachable_nodes_are_503(owner):
    network = NetworkFactory(tenant=owner.tenant)
    NodeFactory(network=network, rpc_url="http://127.0.0.1:9")  # discard port: nobody there
    res = client_for(owner).get(f"/api/v1/networks/{network.pk}/gateway/blocks/")
    assert res.status_code == 503 and res.json()["error"]["code"] == "gateway_unavailable"


def _other_tenant_urls(network, node) -> list[tuple[str, str]]:
    """Every API route of one network (``deploy/api/urls.py``: the network itself, its
    actions, nodes, consortium invitations and members, gateway, staff approval) with each
    method it answers. Built from the URL configuration, so a new nested route is checked
    without being listed here. Ids name real objects of ``network`` (its node, an invitation
    of it), so a 404 means isolation, not a missing object."""
    from django.urls import reverse

    from deploy.api import urls as deploy_api_urls
    from deploy.models import NetworkMembership
    from deploy.tests.factories import ConsortiumInvitationFactory

    invitation = ConsortiumInvitationFactory(network=network)
    child_ids = {"nodes": node.pk, "invitations": invitation.pk}
    member = NetworkMembership.objects.create(network=network, tenant=invitation.invited_tenant)
    found = []
    for pattern in deploy_api_urls.urlpatterns:
        route = str(pattern.pattern).removeprefix("^")
        params = set(pattern.pattern.regex.groupindex)
        if not route.startswith("networks/") or not params:
            continue  # the list of networks, invitations received, staff lists
        kwargs = {}
        for param in params:
            if param == "network_pk" or (param == "pk" and "network_pk" not in params):
                kwargs[param] = network.pk
            elif param == "pk":
                kwargs[param] = child_ids[route.split("/")[2]]  # networks/<id>/<child>/<pk>/
            elif param == "height":
                kwargs[param] = 1
            elif param == "tx_hash":
                kwargs[param] = "ab" * 32
            elif param == "slug":  # networks/<id>/members/<slug>/
                kwargs[param] = member.tenant.slug
            else:
                raise AssertionError(f"{pattern.name}: give _other_tenant_urls a {param}")
        url = reverse(pattern.name, kwargs=kwargs)
        methods = ("get", "post", "put", "patch", "delete")  # not HEAD: no body to read
        actions = getattr(pattern.callback, "actions", None)  # a viewset's method -> action
        if actions is None:  # a plain APIView: the handlers it defines
            actions = {m: m for m in methods if hasattr(pattern.callback.view_class, m)}
        found += [(method, url) for method in methods if method in actions]
    return found


def test_another_tenant_sees_404_everywhere(owner):
    network = NetworkFactory(tenant=owner.tenant)
    node = NodeFactory(network=network, rpc_url="http://127.0.0.1:9")
    intruder = client_for(MembershipFactory(role="owner"))
    for method, url in _other_tenant_urls(network, node):
        res = getattr(intruder, method)(url, {"chaincode": "kv", "function": "get"},
                                        format="json")
        assert res.status_code == 404, (method, url, res.status_code)
        assert res.json()["error"]["code"] == "not_found"
    listing = intruder.get("/api/v1/networks/").json()
    assert listing["results"] == []
    network.refresh_from_db()
    assert network.status == NetworkStatus.RUNNING  # nothing happened to it


def test_unknown_ids_are_404(owner):
    client = client_for(owner)
    assert client.get(f"/api/v1/networks/{uuid.uuid4()}/").status_code == 404
    assert client.get("/api/v1/networks/not-a-uuid/").status_code == 404


def _token_client(member, scopes: list[str]) -> APIClient:
    from tenants import services as tenant_services

    _row, raw = tenant_services.token_create(
        tenant=member.tenant, actor=member.user, membership=member, name=f"ci-{len(scopes)}",
        scopes=scopes,
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def test_infrastructure_changes_need_the_deploy_scope(owner):
    network = NetworkFactory(tenant=owner.tenant, status=NetworkStatus.RUNNING)
    node = NodeFactory(network=network)
    app_token = _token_client(owner, ["read", "write"])
    writes = [
        ("post", "/api/v1/networks/", {"name": "nope", "validators": 1}),
        ("post", f"/api/v1/networks/{network.pk}/stop/", {}),
        ("delete", f"/api/v1/networks/{network.pk}/", {}),
        ("post", f"/api/v1/networks/{network.pk}/validators/", {}),
        ("post", f"/api/v1/networks/{network.pk}/nodes/{node.pk}/restart/", {}),
        ("delete", f"/api/v1/networks/{network.pk}/nodes/{node.pk}/", {}),
        ("post", f"/api/v1/networks/{network.pk}/invitations/", {"tenant": "x"}),
        ("delete", f"/api/v1/networks/{network.pk}/members/someone/", {}),
    ]
    for method, url, body in writes:
        res = getattr(app_token, method)(url, body, format="json")
        assert res.status_code == 403, (url, res.content)
        assert res.json()["error"]["code"] == "insufficient_scope", url
        assert res.json()["error"]["details"] == {"required_scope": "deploy"}
    network.refresh_from_db()
    assert network.status == NetworkStatus.RUNNING
    assert Network.objects.filter(tenant=owner.tenant).count() == 1
    # Reads need only read; the same token reads everything.
    assert app_token.get("/api/v1/networks/").status_code == 200
    assert app_token.get(f"/api/v1/networks/{network.pk}/nodes/").status_code == 200

    ci_token = _token_client(owner, ["read", "write", "deploy"])
    res = ci_token.post("/api/v1/networks/", {"name": "from-ci", "validators": 1},
                        format="json")
    assert res.status_code == 202, res.content


def test_staff_endpoints_refuse_api_tokens(owner):
    owner.user.is_staff = True
    owner.user.save()
    network = NetworkFactory(tenant=owner.tenant, status=NetworkStatus.PENDING_APPROVAL)
    token = _token_client(owner, ["read", "write", "deploy"])
    for url in (f"/api/v1/networks/{network.pk}/approve/", "/api/v1/staff/networks/"):
        res = token.post(url, {}, format="json")
        assert res.status_code == 403 and res.json()["error"]["code"] == "session_required"
    assert token.get("/api/v1/staff/networks/pending/").status_code == 403
    network.refresh_from_db()
    assert network.status == NetworkStatus.PENDING_APPROVAL
