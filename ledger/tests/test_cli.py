"""``python -m ledger``: clear errors for bad input, and a whole local-network round trip."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import require_service

ROOT = Path(__file__).resolve().parents[2]


def ledger(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "ledger", *args], capture_output=True,
                          text=True, timeout=timeout, env=env, cwd=ROOT)


@pytest.mark.parametrize("args,message", [
    (["testnet", "--validators", "0", "--out", "x"], "must be between 1 and 64"),
    (["testnet", "--validators", "four", "--out", "x"], "is not a whole number"),
    (["tx", "--node", "http://127.0.0.1:1", "--chaincode", "kv", "--function", "put",
      "--args", "[oops"], "not valid JSON"),
    (["frobnicate"], "invalid choice"),
])
def test_bad_arguments_exit_2_with_the_problem_named(args, message):
    done = ledger(*args)
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_missing_network_folder_is_named(tmp_path):
    done = ledger("up", "--home", str(tmp_path / "nowhere"))
    assert done.returncode == 2
    assert "network.json not found" in done.stderr and "Traceback" not in done.stderr


def test_node_without_node_json_is_named(tmp_path):
    done = ledger("node", "--home", str(tmp_path))
    assert done.returncode == 2
    assert "node.json not found" in done.stderr


def test_unreachable_node_is_a_failure_not_a_traceback():
    done = ledger("status", "--node", "http://127.0.0.1:9", "--timeout", "2")
    assert done.returncode == 1
    assert "cannot reach" in done.stderr and "Traceback" not in done.stderr


def test_bad_node_url_is_named():
    done = ledger("status", "--node", "ftp://127.0.0.1:9")
    assert done.returncode == 2
    assert "must start with http://" in done.stderr


@pytest.mark.cometbft
@pytest.mark.slow
def test_local_network_round_trip(tmp_path):
    require_service("cometbft", shutil.which("cometbft") is not None,
                    "run scripts/install-cometbft.sh")
    out = tmp_path / "net"
    made = ledger("testnet", "--validators", "2", "--out", str(out), "--chain-id", "cli-test")
    assert made.returncode == 0, made.stderr
    assert (out / "node0" / "node.json").exists() and (out / "node1" / "node.json").exists()
    again = ledger("testnet", "--validators", "1", "--out", str(out))
    assert again.returncode == 2 and "already holds a network" in again.stderr

    started = ledger("up", "--home", str(out))
    try:
        assert started.returncode == 0, started.stderr + (out / "node0/node.log").read_text()
        assert (out / "node0" / "node.pid").exists()

        status = ledger("status", "--home", str(out))
        assert status.returncode == 0, status.stderr
        assert json.loads(status.stdout)["chain_id"] == "cli-test"

        tx = ledger("tx", "--home", str(out), "--chaincode", "kv", "--function", "put",
                    "--args", '["colour", "green"]')
        assert tx.returncode == 0, tx.stderr
        assert json.loads(tx.stdout)["height"] > 0

        node1 = json.loads((out / "node1" / "node.json").read_text())
        call = ledger("call", "--node", f"http://127.0.0.1:{node1['rpc_port']}",
                      "--chaincode", "kv", "--function", "get", "--args", '["colour"]')
        assert call.returncode == 0, call.stderr
        assert json.loads(call.stdout) == "green"

        bad = ledger("tx", "--home", str(out), "--chaincode", "nope", "--function", "put")
        assert bad.returncode == 1
        assert "rejected" in bad.stderr and "Traceback" not in bad.stderr
    finally:
        stopped = ledger("down", "--home", str(out))
    assert stopped.returncode == 0, stopped.stderr
    assert "node0: stopped" in stopped.stdout
    assert not (out / "node0" / "node.pid").exists()


@pytest.mark.cometbft
def test_node_with_busy_abci_port_says_so(tmp_path):
    import socket

    require_service("cometbft", shutil.which("cometbft") is not None,
                    "run scripts/install-cometbft.sh")
    assert ledger("testnet", "-n", "1", "--out", str(tmp_path)).returncode == 0
    port = json.loads((tmp_path / "node0" / "node.json").read_text())["abci_port"]
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", port))
        busy.listen()
        done = ledger("node", "--home", str(tmp_path / "node0"), timeout=60)
    assert done.returncode == 1
    assert f"cannot listen for ABCI on 127.0.0.1:{port}" in done.stderr
