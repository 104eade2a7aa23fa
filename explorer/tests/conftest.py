"""One real one-validator CometBFT network for the package's index tests (started once,
only by the tests that ask for it)."""

from __future__ import annotations

import shutil

import pytest

from conftest import require_service
from ledger.client import LedgerClient
from ledger.network import create_operator_key, generate_network, local_nodes
from ledger.node import node_pid, start_background, stop_background, wait_ready
from ledger.tx import Signer

CHAIN_ID = "explorer-test"
DEADLINE = 90.0


@pytest.fixture(scope="package")
def chain(tmp_path_factory):
    """One real validator, with a client that signs kv writes."""
    from ledger.cli import build_app_state

    require_service("cometbft", shutil.which("cometbft") is not None,
                    "run scripts/install-cometbft.sh")
    root = tmp_path_factory.mktemp("explorer-net")
    key, public_hex = create_operator_key(root)
    nodes = local_nodes(1)
    homes = generate_network(chain_id=CHAIN_ID, nodes=nodes, out_dir=root,
                             app_state=build_app_state(public_hex))
    url = f"http://127.0.0.1:{nodes[0].rpc_port}"
    start_background(homes[0])
    client = LedgerClient(url, signer=Signer.from_private_bytes(key), chain_id=CHAIN_ID,
                          timeout=30)
    try:
        wait_ready(url, timeout=DEADLINE, pid=node_pid(homes[0]))
        yield url, client
    finally:
        client.close()
        stop_background(homes[0])
