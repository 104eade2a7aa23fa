"""A consortium on a real chain: tenant A owns a one-validator network and invites tenant B;
B accepts (its organisation is registered on chain by ``_identity.add_org``), adds a
validator of its own that joins through the ledger's validator updates, transacts through
the gateway with its own managed identity. A third tenant sees none of it. Then A removes B:
B's validator leaves the set, B's organisation and keys leave the chain."""

from __future__ import annotations

import base64

import pytest
from rest_framework.test import APIClient

from deploy import gateway, rpc
from deploy.models import Network, NetworkIdentity, Node
from deploy.tests.factories import MembershipFactory
from ledger.tx import build_tx
from tests.e2e.test_local_network import wait_operation

pytestmark = [pytest.mark.slow, pytest.mark.cometbft]


def client_for(membership) -> APIClient:
    client = APIClient()
    client.force_authenticate(user=membership.user)
    return client


def succeeded(client: APIClient, res) -> dict:
    assert res.status_code in (200, 202), res.content
    op = wait_operation(client, res.json()["operation"]["id"])
    assert op["state"] == "succeeded", (op["error_code"], op["error_message"])
    return op


def test_member_runs_its_own_validator_on_the_owners_chain(celery_worker, e2e_env):
    a, b, c = (MembershipFactory(role="owner") for _ in range(3))
    owner, member, stranger = client_for(a), client_for(b), client_for(c)
    res = owner.post("/api/v1/networks/", {"name": "consortium", "validators": 1},
                     format="json")
    network_id = res.json()["network"]["id"]
    succeeded(owner, res)
    base = f"/api/v1/networks/{network_id}/"

    inv = owner.post(base + "invitations/", {"tenant": b.tenant.slug}, format="json").json()
    succeeded(member, member.post(f"/api/v1/consortium-invitations/{inv['id']}/accept/"))
    [row] = owner.get(base + "members/").json()["results"]
    assert row["tenant"] == b.tenant.slug and row["organisation_registered"] is True

    # B's validator: B's node row, B's organisation on chain, voting power on the live chain.
    succeeded(member, member.post(base + "validators/"))
    node = Node.objects.get(network_id=network_id, tenant=b.tenant)
    assert node.status == "running"
    power, catching_up = rpc.voting_power(node.rpc_url)
    assert power > 0 and not catching_up
    assert Network.objects.get(pk=network_id).validator_count == 2

    # B transacts as itself, with its own organisation's admin identity.
    tx = member.post(base + "gateway/tx/", {"chaincode": "kv", "function": "put",
                                             "args": ["from", b.tenant.slug]}, format="json")
    assert tx.status_code == 200 and tx.json()["code"] == 0, tx.content
    nodes = member.post(base + "gateway/query/", {
        "chaincode": "_identity", "function": "list_nodes", "args": {}}, format="json")
    assert nodes.status_code == 200, nodes.content
    assert {n["org"] for n in nodes.json()["result"] if n["power"] > 0} \
        == {a.tenant.slug, b.tenant.slug}
    identity = NetworkIdentity.objects.get(network_id=network_id, tenant=b.tenant)
    me = member.post(base + "gateway/query/", {
        "chaincode": "_identity", "function": "get_member",
        "args": {"public_key": identity.public_key}}, format="json").json()["result"]
    assert me["org"] == b.tenant.slug and "admin" in me["roles"]

    # Governance never goes through the gateway: B cannot even send the call that would
    # take A's organisation off the chain (and the chain would refuse it: B does not govern).
    coup = member.post(base + "gateway/tx/", {"chaincode": "_identity", "function": "remove_org",
                                               "args": {"id": a.tenant.slug}}, format="json")
    assert coup.status_code == 403, coup.content
    assert coup.json()["error"]["code"] == "system_chaincode_refused"

    # Both sides read B's node logs; the stranger reaches nothing.
    logs = f"{base}nodes/{node.pk}/logs/"
    assert owner.get(logs).status_code == 200 and member.get(logs).status_code == 200
    for url in (base, base + "nodes/", base + "members/", logs, base + "gateway/blocks/"):
        assert stranger.get(url).status_code == 404, url
    # B may not stop A's chain.
    assert member.post(base + "stop/").status_code == 403

    # A removes B while B still runs its validator: the validator leaves the set and is
    # deleted, B's organisation and keys leave the chain, and B no longer sees the network.
    old_key = gateway.tenant_signer(Network.objects.get(pk=network_id), b.tenant)
    succeeded(owner, owner.delete(f"{base}members/{b.tenant.slug}/"))
    node.refresh_from_db()
    assert node.status == "deleted"
    assert Network.objects.get(pk=network_id).validator_count == 1
    assert owner.get(base + "members/").json()["results"] == []
    orgs = owner.post(base + "gateway/query/", {
        "chaincode": "_identity", "function": "list_orgs", "args": {}}, format="json")
    assert b.tenant.slug not in {o["id"] for o in orgs.json()["result"]}
    assert member.get(base).status_code == 404
    # a tx B signed with its old key is refused by the chain itself
    chain_id = Network.objects.get(pk=network_id).chain_id
    raw = build_tx(signer=old_key, chain_id=chain_id, chaincode="kv", function="put",
                   args=["still", "here"])
    res = owner.post(base + "gateway/tx/", {"tx": base64.b64encode(raw).decode()},
                     format="json")
    assert res.status_code == 422 and res.json()["error"]["details"]["stage"] == "CheckTx"
    # the chain keeps committing on A's validator alone
    [a_node] = Node.objects.filter(network_id=network_id).exclude(status="deleted")
    height = rpc.status(a_node.rpc_url).height
    tx = owner.post(base + "gateway/tx/", {"chaincode": "kv", "function": "put",
                                            "args": ["after", "removal"]}, format="json")
    assert tx.status_code == 200 and tx.json()["height"] > height
