"""DIDs on a real local network (CometBFT validators run by the local driver, the ledger of
this tree with its ``_did``): the registry's namespace on chain, platform and holder
custody, rotation, deactivation, roles and a race of two rotations, through the API.

The network is provisioned in this process (the provisioning task called directly, no
worker) and deleted at the end; nothing is left running."""

from __future__ import annotations

import shutil
import threading
import uuid

import pytest

from baas.testing import api_client_for, token_client
from conftest import require_service
from deploy.tests.factories import MembershipFactory
from identity.models import Did
from ledger.tx import Signer
from tenants.services import token_create

pytestmark = [pytest.mark.slow, pytest.mark.cometbft]


@pytest.fixture
def live_network(tmp_path, settings, transactional_db):
    """A running one-validator local network of a fresh owner."""
    from deploy import crypto, services, tasks
    from deploy.models import Network
    from deploy.services import NetworkSpec

    require_service("cometbft", shutil.which("cometbft") is not None, "binary not on PATH")
    settings.BAAS_INSTALL_ID = f"did-{uuid.uuid4().hex[:8]}"
    settings.BAAS_NODES_DIR = str(tmp_path / "nodes")
    settings.BAAS_NODE_KEYS_KEY_FILE = str(tmp_path / "kek")
    crypto.reset_cache()
    owner = MembershipFactory(role="owner")
    network, op = services.network_create(tenant=owner.tenant, actor=owner.user,
                                          spec=NetworkSpec(name="dids", validators=1))
    try:
        tasks.network_provision_task(str(network.pk), op.pk)
        network.refresh_from_db()
        assert network.status == "running", network.status
        yield owner, network
    finally:
        from deploy.drivers import get_driver

        try:
            get_driver("local").delete_network(network_id=str(network.pk))
        finally:
            Network.objects.filter(pk=network.pk).update(status="deleted")
            crypto.reset_cache()


def err(response):
    return response.json()["error"]["code"]


def test_dids_on_a_real_network(live_network):
    owner, network = live_network
    admin = api_client_for(owner.user, owner.tenant)
    url = f"/api/v1/networks/{network.pk}/did-registry/"

    # the registry: refused input first, then the namespace goes on chain once
    assert admin.put(url, {"namespace": "Bad"}, format="json").status_code == 400
    res = admin.put(url, {"namespace": "e2e-dids", "public": True}, format="json")
    assert res.status_code == 200, res.content
    from identity import selectors

    assert selectors.chain_config(network)["namespace"] == "e2e-dids"
    res = admin.put(url, {"namespace": "other"}, format="json")
    assert res.status_code == 409 and err(res) == "namespace_fixed"

    # platform custody: the organisation's DID, asked for twice at once: one is written,
    # the other is refused by the database's constraint before anything is sent
    created: list = []

    def create_org() -> None:
        from django.db import connection

        try:
            created.append(api_client_for(owner.user, owner.tenant).post(
                "/api/v1/dids/", {"network": str(network.pk), "subject": "organisation",
                                  "custody": "platform"}, format="json"))
        finally:
            connection.close()

    threads = [threading.Thread(target=create_org) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.status_code for r in created) == [201, 409], [r.content for r in created]
    assert err(next(r for r in created if r.status_code == 409)) == "did_exists"
    assert selectors.chain_config(network)["dids"] == 1
    org = next(r for r in created if r.status_code == 201).json()
    assert org["status"] == "active" and org["document"]["id"] == org["did"]
    assert org["metadata"]["versionId"] == "1"
    res = admin.post("/api/v1/dids/", {"network": str(network.pk), "subject": "organisation"},
                     format="json")
    assert res.status_code == 409 and err(res) == "did_exists"

    # rotate, twice at once: the chain takes one, the other is a 409 with nothing written
    results: list = []

    def rotate() -> None:
        from django.db import connection

        try:
            results.append(admin.post(f"/api/v1/dids/{org['id']}/rotate/", {},
                                      format="json"))
        finally:
            connection.close()

    threads = [threading.Thread(target=rotate) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    codes = sorted(r.status_code for r in results)
    assert codes[0] == 200 and codes[1] in (200, 409), [r.content for r in results]
    detail = admin.get(f"/api/v1/dids/{org['id']}/").json()
    expected = 1 + codes.count(200)
    assert detail["metadata"]["versionId"] == str(expected)
    assert [v["version"] for v in detail["versions"]] == list(range(expected, 0, -1))
    # whichever rotation won, the key the platform holds controls the DID
    res = admin.post(f"/api/v1/dids/{org['id']}/rotate/", {}, format="json")
    assert res.status_code == 200, res.content

    # holder custody for a developer, with a write token
    dev = MembershipFactory(tenant=owner.tenant, role="developer")
    devc = api_client_for(dev.user, owner.tenant)
    key = Signer.generate()
    prepared = devc.post("/api/v1/dids/prepare/", {
        "network": str(network.pk), "subject": "me", "public_key": key.public_key_hex},
        format="json").json()
    sig = key.sign(bytes.fromhex(prepared["message_hex"])).hex()
    res = devc.post("/api/v1/dids/", {
        "network": str(network.pk), "subject": "me", "custody": "holder",
        "public_key": key.public_key_hex, "signature": sig}, format="json")
    assert res.status_code == 201, res.content
    mine = res.json()
    assert mine["did"] == prepared["did"]
    assert admin.post(f"/api/v1/dids/{mine['id']}/rotate/", {},
                      format="json").status_code == 403
    # the viewer reads; a read token reads and cannot write
    viewer = api_client_for(MembershipFactory(tenant=owner.tenant, role="viewer").user,
                            owner.tenant)
    assert viewer.get(f"/api/v1/dids/{mine['id']}/").json()["document"]["id"] == mine["did"]
    _t, raw = token_create(tenant=owner.tenant, actor=owner.user, membership=owner,
                           name="reader", scopes=["read"])
    assert token_client(raw).get("/api/v1/dids/").status_code == 200
    assert err(token_client(raw).post(f"/api/v1/dids/{org['id']}/deactivate/", {},
                                      format="json")) == "insufficient_scope"

    # a holder's stale signature (prepared against an older version) is refused
    new = Signer.generate()
    prepared = devc.post(f"/api/v1/dids/{mine['id']}/prepare/",
                         {"op": "update", "public_key": new.public_key_hex},
                         format="json").json()
    res = devc.post(f"/api/v1/dids/{mine['id']}/rotate/", {
        "public_key": new.public_key_hex, "prev": prepared["prev"],
        "signature": key.sign(bytes.fromhex(prepared["message_hex"])).hex()}, format="json")
    assert res.status_code == 200, res.content
    prepared = devc.post(f"/api/v1/dids/{mine['id']}/prepare/", {"op": "deactivate"},
                         format="json").json()
    res = devc.post(f"/api/v1/dids/{mine['id']}/deactivate/", {
        "signature": key.sign(bytes.fromhex(prepared["message_hex"])).hex()}, format="json")
    assert res.status_code == 400 and err(res) == "invalid_signature"  # rotated out
    res = devc.post(f"/api/v1/dids/{mine['id']}/deactivate/", {
        "signature": new.sign(bytes.fromhex(prepared["message_hex"])).hex()}, format="json")
    assert res.status_code == 200, res.content
    body = res.json()
    assert body["status"] == "deactivated" and body["document"] is None
    assert body["metadata"]["deactivated"] is True
    assert Did.objects.get(pk=mine["id"]).status == "deactivated"

    # the organisation's DID ends too; a new one may follow
    res = admin.post(f"/api/v1/dids/{org['id']}/deactivate/", {}, format="json")
    assert res.status_code == 200 and res.json()["status"] == "deactivated"
    assert admin.post("/api/v1/dids/", {"network": str(network.pk), "subject": "organisation"},
                      format="json").status_code == 201
