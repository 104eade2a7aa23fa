"""Network generation: homes, shared genesis, peers, config values, operator key."""

import json
import shutil
import stat
import tomllib

import pytest

from conftest import require_service
from ledger.network import (
    NetworkError,
    NodeConfig,
    create_operator_key,
    free_ports,
    generate_network,
    load_operator_key,
    local_nodes,
    node_id,
)


@pytest.fixture
def cometbft():
    require_service("cometbft", shutil.which("cometbft") is not None,
                    "run scripts/install-cometbft.sh")


def test_free_ports_are_distinct():
    ports = free_ports(12)
    assert len(set(ports)) == 12


def test_local_nodes_use_distinct_ports():
    nodes = local_nodes(4)
    ports = [p for n in nodes for p in (n.p2p_port, n.rpc_port, n.abci_port)]
    assert len(set(ports)) == 12
    assert [n.moniker for n in nodes] == ["node0", "node1", "node2", "node3"]


def test_operator_key_is_private_to_its_owner(tmp_path):
    private, public_hex = create_operator_key(tmp_path)
    path = tmp_path / "operator_key.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_operator_key(path) == private
    assert len(bytes.fromhex(public_hex)) == 32


@pytest.mark.cometbft
def test_four_validator_network_on_disk(tmp_path, cometbft):
    nodes = local_nodes(4)
    homes = generate_network(chain_id="net-1", nodes=nodes, out_dir=tmp_path,
                             app_state=b'{"organisations": []}')
    assert [h.name for h in homes] == ["node0", "node1", "node2", "node3"]
    geneses = [(h / "cometbft/config/genesis.json").read_text() for h in homes]
    assert len(set(geneses)) == 1  # every node shares one genesis
    genesis = json.loads(geneses[0])
    assert genesis["chain_id"] == "net-1"
    assert genesis["app_state"] == {"organisations": []}
    keys = {json.loads((h / "cometbft/config/priv_validator_key.json").read_text())
            ["pub_key"]["value"] for h in homes}
    assert {v["pub_key"]["value"] for v in genesis["validators"]} == keys
    assert len(keys) == 4

    ids = [node_id(h / "cometbft") for h in homes]
    for i, (node, home) in enumerate(zip(nodes, homes, strict=True)):
        cfg = tomllib.loads((home / "cometbft/config/config.toml").read_text())
        assert cfg["proxy_app"] == f"tcp://127.0.0.1:{node.abci_port}"
        assert cfg["rpc"]["laddr"] == f"tcp://127.0.0.1:{node.rpc_port}"
        assert cfg["p2p"]["addr_book_strict"] is False
        assert cfg["p2p"]["allow_duplicate_ip"] is True
        peers = cfg["p2p"]["persistent_peers"].split(",")
        assert len(peers) == 3 and not any(p.startswith(ids[i]) for p in peers)
        assert f"{ids[(i + 1) % 4]}@127.0.0.1:{nodes[(i + 1) % 4].p2p_port}" in peers
        info = json.loads((home / "node.json").read_text())
        assert info["abci_port"] == node.abci_port and info["chain_id"] == "net-1"
        assert (home / "app").is_dir()


@pytest.mark.cometbft
def test_refuses_to_overwrite_an_existing_network(tmp_path, cometbft):
    nodes = local_nodes(1)
    generate_network(chain_id="c", nodes=nodes, out_dir=tmp_path, app_state=b"{}")
    with pytest.raises(NetworkError, match="already holds a node"):
        generate_network(chain_id="c", nodes=nodes, out_dir=tmp_path, app_state=b"{}")


@pytest.mark.parametrize("chain_id,nodes,message", [
    ("bad chain!", None, "invalid chain id"),
    ("ok", [], "at least one validator"),
    ("ok", [NodeConfig(0, "a", "127.0.0.1", 1, 1, 2)], "used twice"),
    ("ok", [NodeConfig(0, "a", "127.0.0.1", 1, 2, 70000)], "out of range"),
    ("ok", [NodeConfig(0, "a b", "127.0.0.1", 1, 2, 3)], "invalid moniker"),
])
def test_bad_input_is_named(tmp_path, chain_id, nodes, message):
    nodes = local_nodes(1) if nodes is None else nodes
    with pytest.raises(NetworkError, match=message):
        generate_network(chain_id=chain_id, nodes=nodes, out_dir=tmp_path, app_state=b"{}")


def test_app_state_must_be_json(tmp_path):
    # validation happens after the cometbft check
    require_service("cometbft", shutil.which("cometbft") is not None, "binary not on PATH")
    with pytest.raises(NetworkError, match="not JSON"):
        generate_network(chain_id="c", nodes=local_nodes(1), out_dir=tmp_path, app_state=b"{")
