"""A node home that looks like a real one (files at the paths CometBFT and the ledger use),
and a backup made of it, for the tests that need no running network."""

from __future__ import annotations

import json
import sqlite3
import tempfile
from pathlib import Path

from archives import fmt


def fake_home(root: Path, index: int = 0) -> Path:
    home = root / f"home{index}"
    files = {
        "node.json": json.dumps({"moniker": f"n-{index}", "chain_id": "c-1", "node_id":
                                 f"{index:040x}", "host": "127.0.0.1", "p2p_port": 1,
                                 "rpc_port": 2, "abci_port": 3}),
        "cometbft/config/genesis.json": json.dumps({"chain_id": "c-1"}),
        "cometbft/config/config.toml": 'proxy_app = "x"\n[rpc]\nladdr = "x"\n',
        "cometbft/config/priv_validator_key.json": '{"priv_key": "secret validator"}',
        "cometbft/config/node_key.json": '{"priv_key": "secret node"}',
        "cometbft/data/blockstore.db/000001.log": "blocks " * 50,
        "cometbft/data/priv_validator_state.json": '{"height": "7"}',
    }
    for rel, text in files.items():
        (home / rel).parent.mkdir(parents=True, exist_ok=True)
        (home / rel).write_text(text)
    (home / "app").mkdir()
    db = sqlite3.connect(home / "app" / "state.sqlite")
    db.execute("CREATE TABLE meta (k TEXT PRIMARY KEY, v BLOB)")
    db.executemany("INSERT INTO meta VALUES (?, ?)", [("height", 7), ("app_hash", b"\x01" * 32)])
    db.commit()
    db.close()
    return home


def make_backup(target: Path, *, tenant_id: str, chain_id: str = "c-1",
                passphrase: str = "a long passphrase", validators: int = 1) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        nodes = [fmt.BackupNode(index=i, moniker=f"n-{i}", home=fake_home(Path(tmp), i),
                                height=7) for i in range(validators)]
        header = {"install_id": "default", "tenant_id": tenant_id, "network_id": "x",
                  "network_name": "n", "chain_id": chain_id, "ledger_version": "0" * 16,
                  "driver": "local", "public_access": False, "height": 7,
                  "app_hash": "01" * 32, "created_at": "2026-01-01T00:00:00Z"}
        _size, _digest, manifest = fmt.build_backup(
            staging=Path(tmp), target=target, header=header, nodes=nodes, identities=[],
            passphrase=passphrase)
    return manifest
