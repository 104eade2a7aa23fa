"""The election pages against the real voting contract (``sectors/bundles/voting``) on a
real in-process chain (``sectors.harness.BundleChain`` on ``ledger.testing``: the ledger's
admission, sandbox, ``ctx.ec`` host and state store, blocks one at a time, no CometBFT).

The gateway's seams answer from that chain: reads at a height through a client with
``height()``/``call()``, writes as signed transactions in a new block. So every argument the
pages send meets the bundle's own schema and rules, and the record the results page checks
and the download serves is the chain's. The organisations are the chain's ``org1`` (the
commission and a trustee) and ``org2`` (a trustee); voters are fresh Ed25519 keys, as the
voter page's browser makes them.
"""

from __future__ import annotations

import base64
import json
import time
import tomllib
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.test import Client

from baas.errors import AppError
from deploy.models import NetworkIdentity, NetworkMembership
from deploy.tests.factories import NetworkFactory
from elections import protocol as P
from elections.tests.conftest import signed_in
from elections.verify import verify_record
from ledger.testing import CHAIN_ID
from ledger.tx import Signer
from sectors.catalogue import version_key
from sectors.choices import DeploymentStatus
from sectors.models import Deployment, Template

pytestmark = pytest.mark.django_db

BUNDLE = Path(__file__).resolve().parents[2] / "sectors" / "bundles" / "voting"
ROLES = {"commission": ["org1"], "trustee": ["org1", "org2"]}


class Node:
    """One node of the in-process chain, as the gateway and a ``LedgerClient`` reach it."""

    def __init__(self, bundle_chain) -> None:
        self.bc = bundle_chain

    def height(self) -> int:
        return self.bc.chain.height

    def call(self, chaincode, function, args=None, *, height=0):
        from ledger.client import QueryFailed

        result = self.bc.chain.call(chaincode, function, args or {}, height=height)
        if result.code:
            raise QueryFailed("/call", result.code, result.log)
        return json.loads(result.value)

    def with_failover(self, network, call, **kwargs):
        return call(self)

    def query(self, *, network, body, signer=None):
        return {"result": self.call(body["chaincode"], body["function"], body.get("args"))}

    def submit_tx(self, *, network, body, signer=None):
        if "tx" in body:
            raw = base64.b64decode(body["tx"])
        else:
            raw = self.bc.chain.tx(signer, body["chaincode"], body["function"],
                                   body.get("args") or {})
        result = self.bc.chain.block(raw).tx_results[0]
        if result.code:
            raise AppError("tx_rejected", f"The ledger rejected the transaction at "
                           f"FinalizeBlock: {result.log}", status=422,
                           details={"stage": "FinalizeBlock", "log": result.log})
        return {"hash": "", "code": 0, "log": "", "height": self.bc.chain.height,
                "data": json.loads(result.data) if result.data else None}

    def wait_until(self, seconds: int) -> None:
        while self.bc.chain.time_ns // 10**9 < seconds:
            self.bc.chain.block()


@pytest.fixture
def network(owner, partner):
    net = NetworkFactory(tenant=owner.tenant, public_access=True, name="vote-net",
                         chain_id=CHAIN_ID)
    for tenant, org in ((owner.tenant, "org1"), (partner.tenant, "org2")):
        NetworkIdentity.objects.create(network=net, tenant=tenant, organisation_id=org,
                                       member_id="platform", public_key=org.ljust(64, "0"),
                                       sealed_private_key=b"x")
    NetworkMembership.objects.create(network=net, tenant=partner.tenant, role="validator")
    return net


@pytest.fixture
def deployment(owner, network):
    manifest = tomllib.loads((BUNDLE / "manifest.toml").read_text("utf-8"))
    template = Template.objects.create(
        tenant=None, name="voting", version=manifest["version"],
        version_key=version_key(manifest["version"]), sector="voting",
        content_hash="e" * 64, manifest=manifest, source=(BUNDLE / "contract.py").read_text(),
        review={"valid": True, "problems": []})
    return Deployment.objects.create(network=network, tenant=owner.tenant, name="voting",
                                     active=template, target=template,
                                     status=DeploymentStatus.ACTIVE, roles=ROLES)


@pytest.fixture
def node(tmp_path, monkeypatch, deployment, owner, partner):
    if not (BUNDLE / "contract.py").is_file():
        pytest.skip("the voting bundle is not in this tree")
    from sectors.harness import BundleChain

    # The chain's clock starts at the wall clock, so the times the pages write (and the
    # envelopes the public page prepares) are the chain's times too.
    monkeypatch.setattr("ledger.testing.T0", (int(time.time()) - 30) * 10**9)
    bundle_chain = BundleChain.start(tmp_path / "chain", BUNDLE, roles=ROLES)
    fake = Node(bundle_chain)
    keys = {owner.tenant.slug: bundle_chain.chain.keys["user1"],
            partner.tenant.slug: bundle_chain.chain.keys["admin2"]}
    monkeypatch.setattr("elections.selectors.gateway.with_failover", fake.with_failover)
    monkeypatch.setattr("sectors.services.gateway.submit_tx", fake.submit_tx)
    monkeypatch.setattr("sectors.services.gateway.query", fake.query)
    monkeypatch.setattr("sectors.services.consortium.ensure_registered", lambda *a: None)
    monkeypatch.setattr("sectors.services.keys.signer_for",
                        lambda *, tenant, **kw: keys[tenant.slug])
    yield fake
    bundle_chain.close()


def stamp(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M")


def test_a_whole_election_on_the_real_contract(owner, partner, deployment, node):
    commission, trustee2 = signed_in(owner), signed_in(partner)
    base = f"/deployments/{deployment.pk}/elections/mayor/"
    now = node.bc.chain.time_ns // 10**9
    response = commission.post(f"/deployments/{deployment.pk}/elections/new/", {
        "election_id": "mayor", "title": "Mayor of Jongno",
        "questions": "Mayor [1]\n- Kim\n- Lee\n- Park\n\nBudget [0-2]\n- Parks\n- Library\n- Bus",
        "trustees": ["org1", "org2"], "opens": stamp(now - 60), "closes": stamp(now + 180)})
    assert response.status_code == 302, response.content.decode()[-3000:]
    election = node.call("voting", "get_election", {"id": "mayor"})
    assert election["state"] == "setup" and election["trustees"] == ["org1", "org2"]

    # each trustee posts its key share (made as the browser makes it) through its page
    keys = {}
    for client, org in ((commission, "org1"), (trustee2, "org2")):
        keys[org] = P.trustee_keygen(election["eh"], org)
        posted = keys[org].posted()
        response = client.post(base + "trustee/", {
            "action": "key", "public": posted["public"], "proof": json.dumps(posted["proof"]),
            "saved": "on"})
        assert response.status_code == 302, response.content.decode()[-3000:]

    voters = [Signer.generate() for _ in range(3)]
    commission.post(base + "voters/", {"voters": "\n".join(v.public_key_hex for v in voters)})
    response = commission.post(base + "open/", follow=True)
    assert "Voting is open." in str(list(response.context["messages"]))
    election = node.call("voting", "get_election", {"id": "mayor"})
    assert election["state"] == "open" and election["voters"] == 3

    # voters cast through the public page's endpoints, signing with their own keys
    picks = [[[1, 0, 0], [1, 1, 0]], [[0, 0, 1], [0, 0, 0]], [[1, 0, 0], [0, 1, 0]]]
    qs = P.questions_of(election)
    trackers = []
    for voter, choices in zip(voters, picks, strict=True):
        sealed = P.encrypt_ballot(election["eh"], voter.public_key_hex,
                                  P.point(election["joint_key"]), qs, choices)
        client = Client()
        assert client.get(f"/p/{deployment.pk}/elections/mayor/").status_code == 200
        prepared = client.post(f"/p/{deployment.pk}/prepare/", json.dumps({
            "function": "cast", "args": {"id": "mayor", "ballot": sealed.ballot},
            "public_key": voter.public_key_hex}), content_type="application/json").json()
        submitted = client.post(f"/p/{deployment.pk}/submit/", json.dumps({
            "body": prepared["body"],
            "signature": voter.sign(base64.b64decode(prepared["sign_bytes"])).hex()}),
            content_type="application/json")
        assert submitted.status_code == 200, submitted.content
        trackers.append(sealed.tracker)
    results = Client().get(f"/p/{deployment.pk}/elections/mayor/results/",
                           {"tracker": trackers[2]}).content.decode()
    assert 'id="tracker-found"' in results and 'data-valid="true"' in results

    # close after the closing time, decrypt on each trustee's page, publish
    node.wait_until(election["closes_at"])
    commission.post(base + "close/")
    for client, org in ((commission, "org1"), (trustee2, "org2")):
        record = node.call("voting", "election_record", {"id": "mayor"})
        tallies = [[P.Ciphertext.from_json(ct) for ct in row] for row in record["tally"]]
        shares = P.partial_decrypt(election["eh"], org, keys[org], tallies, record["board"])
        response = client.post(base + "trustee/", {"action": "decryption",
                                                   "shares": json.dumps(shares)})
        assert response.status_code == 302, response.content.decode()[-3000:]
    response = commission.post(base + "publish/", follow=True)
    assert "The result is published." in str(list(response.context["messages"]))
    election = node.call("voting", "get_election", {"id": "mayor"})
    assert election["state"] == "published"
    assert election["result"] == [[2, 0, 1], [1, 2, 0]]

    download = Client().get(f"/p/{deployment.pk}/elections/mayor/record.json")
    record = json.loads(download.content)
    assert len(record["ballots"]) == 3 and record["result"] == [[2, 0, 1], [1, 2, 0]]
    verify_record(record)
    page = Client().get(f"/p/{deployment.pk}/elections/mayor/results/").content.decode()
    assert 'data-valid="true"' in page and '<td class="count">2</td>' in page
