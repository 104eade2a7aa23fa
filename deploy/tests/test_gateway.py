"""Failover and error mapping of the gateway (the ledger client is replaced by a stub;
the real path is covered end to end in tests/e2e)."""

from __future__ import annotations

import pytest

from baas.errors import AppError
from deploy import gateway
from deploy.choices import NodeHealth
from deploy.tests.factories import NetworkFactory, NodeFactory
from ledger.tx import Signer

pytestmark = pytest.mark.django_db


class StubClient:
    down: set[str] = set()
    pending: set[str] = set()
    calls: list[str] = []
    sent: list[tuple[str, bytes]] = []

    def __init__(self, url, **kwargs):
        self.url = url

    def height(self):
        from ledger.client import ConnectionFailed

        StubClient.calls.append(self.url)
        if self.url in StubClient.down:
            raise ConnectionFailed(f"cannot reach {self.url}")
        return 7

    def rpc(self, method, params):
        return {"block_metas": []}

    def broadcast(self, tx, wait):
        from ledger.client import ClientTimeout, CommitTimeout

        StubClient.sent.append((self.url, tx))
        if self.url in StubClient.pending:
            raise CommitTimeout("ab" * 32)
        if self.url in StubClient.down:
            raise ClientTimeout(f"{self.url} took the tx but did not answer in time")
        return type("Result", (), {"hash": "AB", "code": 0, "log": "", "height": 3,
                                   "data": b""})()

    def close(self):
        pass


@pytest.fixture
def stub(monkeypatch):
    StubClient.down, StubClient.pending, StubClient.calls, StubClient.sent = set(), set(), [], []
    monkeypatch.setattr("ledger.client.LedgerClient", StubClient)
    return StubClient


def test_healthy_and_highest_node_is_tried_first_then_failover(stub):
    network = NetworkFactory()
    NodeFactory(network=network, rpc_url="http://a", health=NodeHealth.UNHEALTHY, height=99)
    NodeFactory(network=network, rpc_url="http://b", health=NodeHealth.HEALTHY, height=5)
    NodeFactory(network=network, rpc_url="http://c", health=NodeHealth.HEALTHY, height=9)
    stub.down = {"http://c"}
    result = gateway.blocks(network=network)
    assert result["latest_height"] == 7
    assert stub.calls == ["http://c", "http://b"]


def test_all_nodes_down_is_503_listing_what_was_tried(stub):
    network = NetworkFactory()
    NodeFactory(network=network, rpc_url="http://a")
    NodeFactory(network=network, rpc_url="http://b")
    stub.down = {"http://a", "http://b"}
    with pytest.raises(AppError) as err:
        gateway.blocks(network=network)
    assert (err.value.status, err.value.code) == (503, "gateway_unavailable")
    assert len(err.value.details["tried"]) == 2


def test_bad_hash_is_rejected_before_any_node_is_asked(stub):
    network = NetworkFactory()
    NodeFactory(network=network, rpc_url="http://a")
    with pytest.raises(AppError) as err:
        gateway.transaction(network=network, tx_hash="nothex")
    assert err.value.code == "invalid_hash" and stub.calls == []


def _two_nodes_with_identity():
    """Node a (highest, tried first) and b; the owner's managed identity signs."""
    from deploy import homes

    network = NetworkFactory()
    NodeFactory(network=network, rpc_url="http://a", height=9)
    NodeFactory(network=network, rpc_url="http://b", height=5)
    homes.managed_identity(network)
    return network


def test_failover_resends_the_same_signed_tx_never_a_new_one(stub, key_file):
    network = _two_nodes_with_identity()
    stub.down = {"http://a"}
    result = gateway.submit_tx(network=network, signer=Signer.generate(),
                               body={"chaincode": "kv", "function": "put", "args": ["k", 1]})
    assert result["code"] == 0
    [(first_url, first), (second_url, second)] = stub.sent
    assert (first_url, second_url) == ("http://a", "http://b")
    assert first == second  # one nonce: the ledger refuses a replay instead of running it twice


def test_a_tx_not_yet_in_a_block_is_504_with_its_hash_and_is_not_sent_elsewhere(stub, key_file):
    network = _two_nodes_with_identity()
    stub.pending = {"http://a"}
    with pytest.raises(AppError) as caught:
        gateway.submit_tx(network=network, signer=Signer.generate(),
                          body={"chaincode": "kv", "function": "put", "args": ["k", 1]})
    assert (caught.value.code, caught.value.status) == ("commit_timeout", 504)
    assert caught.value.details == {"hash": "ab" * 32}
    assert [url for url, _ in stub.sent] == ["http://a"]  # no failover: it may still commit
