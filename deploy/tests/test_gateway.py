"""Failover and error mapping of the gateway (the ledger client is replaced by a stub;
the real path is covered end to end in tests/e2e)."""

from __future__ import annotations

import pytest

from baas.errors import AppError
from deploy import gateway
from deploy.choices import NodeHealth
from deploy.tests.factories import NetworkFactory, NodeFactory

pytestmark = pytest.mark.django_db


class StubClient:
    down: set[str] = set()
    calls: list[str] = []

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

    def close(self):
        pass


@pytest.fixture
def stub(monkeypatch):
    StubClient.down, StubClient.calls = set(), []
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
