"""One real one-validator CometBFT network for the package's tests (started once), with
CometBFT's Prometheus listener on, as the drivers configure it."""

from __future__ import annotations

import shutil

import pytest

from conftest import require_service
from deploy.drivers._instrumentation import CONFIG_TOML, enable_prometheus
from ledger.client import LedgerClient
from ledger.network import create_operator_key, free_ports, generate_network, local_nodes
from ledger.node import node_pid, start_background, stop_background, wait_ready
from ledger.tx import Signer

CHAIN_ID = "monitor-test"
DEADLINE = 90.0


@pytest.fixture(scope="package")
def chain_with_metrics(tmp_path_factory):
    """One real validator, a client that signs kv writes, and the URL of CometBFT's own
    metrics listener (turned on in its config.toml by the drivers' helper)."""
    from ledger.cli import build_app_state

    require_service("cometbft", shutil.which("cometbft") is not None,
                    "run scripts/install-cometbft.sh")
    root = tmp_path_factory.mktemp("monitor-net")
    key, public_hex = create_operator_key(root)
    nodes = local_nodes(1)
    homes = generate_network(chain_id=CHAIN_ID, nodes=nodes, out_dir=root,
                             app_state=build_app_state(public_hex))
    url = f"http://127.0.0.1:{nodes[0].rpc_port}"
    taken = {nodes[0].p2p_port, nodes[0].rpc_port, nodes[0].abci_port}
    metrics_port = next(p for p in free_ports(4) if p not in taken)
    config = homes[0] / CONFIG_TOML
    config.write_text(enable_prometheus(config.read_text(), listen=f"127.0.0.1:{metrics_port}"))
    start_background(homes[0])
    client = LedgerClient(url, signer=Signer.from_private_bytes(key), chain_id=CHAIN_ID,
                          timeout=30)
    try:
        wait_ready(url, timeout=DEADLINE, pid=node_pid(homes[0]))
        yield url, client, f"http://127.0.0.1:{metrics_port}"
    finally:
        client.close()
        stop_background(homes[0])


@pytest.fixture(scope="package")
def chain(chain_with_metrics):
    """One real validator and a client that signs kv writes."""
    url, client, _metrics = chain_with_metrics
    return url, client
