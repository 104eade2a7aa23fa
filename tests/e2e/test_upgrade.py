"""A pinned ledger version and a network upgrade on real CometBFT validators (local driver,
real worker): a network made on version A; the control plane moved to version B (a copy of
ledger/ with one harmless extra file, given to the worker and this process as
BAAS_LEDGER_SOURCE); a validator added then runs A; the upgrade moves both validators to B
at one height; the chain takes a transaction on B and every node has the same app hash."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from rest_framework.test import APIClient

from deploy import rpc
from deploy.drivers import get_driver
from deploy.drivers.runtimes import current_version
from deploy.models import Network
from deploy.tests.factories import MembershipFactory
from tests.e2e.test_local_network import wait_operation

pytestmark = [pytest.mark.slow, pytest.mark.cometbft]


def _runs(network: Network) -> dict[str, str]:
    """moniker -> the ledger copy each node's process imports (its PYTHONPATH, read from
    the live process, not from our records)."""
    driver = get_driver("local")
    found = {}
    for node in network.nodes.exclude(status="deleted"):
        pid_file = driver.nodes_dir / str(network.pk) / str(node.pk) / "node.pid"
        pid = json.loads(pid_file.read_text())["pid"]
        env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        path = next(e for e in env if e.startswith(b"PYTHONPATH=")).decode()
        found[node.moniker] = Path(path.split("=", 1)[1]).name
    return found


def test_a_network_keeps_its_version_until_it_is_upgraded(celery_worker, e2e_env, settings,
                                                          tmp_path):
    owner = MembershipFactory(role="owner")
    client = APIClient()
    client.force_authenticate(user=owner.user)
    a = current_version()
    res = client.post("/api/v1/networks/", {"name": "pinned", "validators": 1}, format="json")
    network_id = res.json()["network"]["id"]
    op = wait_operation(client, res.json()["operation"]["id"])
    assert op["state"] == "succeeded", (op["error_code"], op["error_message"])
    network = Network.objects.get(pk=network_id)
    assert network.ledger_version == a and _runs(network) == {"pinned-0": a}

    # The control plane moves to B (worker and this process).
    from ledger.source_hash import ROOT

    copy = tmp_path / "b" / "ledger"
    shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns("__pycache__", "tests"))
    (copy / "UPGRADE_NOTE.txt").write_text("version B: one harmless extra file\n")
    settings.BAAS_LEDGER_SOURCE = str(copy)
    b = current_version()
    assert b != a
    celery_worker({"BAAS_LEDGER_SOURCE": str(copy)})

    res = client.post(f"/api/v1/networks/{network_id}/validators/")
    assert res.status_code == 202, res.content
    op = wait_operation(client, res.json()["operation"]["id"])
    assert op["state"] == "succeeded", (op["error_code"], op["error_message"])
    network.refresh_from_db()
    assert network.ledger_version == a
    assert _runs(network) == {"pinned-0": a, "pinned-1": a}  # the network's, not B

    res = client.post(f"/api/v1/networks/{network_id}/upgrade/", {}, format="json")
    assert res.status_code == 202, res.content
    op = wait_operation(client, res.json()["operation"]["id"])
    assert op["state"] == "succeeded", (op["error_code"], op["error_message"], op["steps"][-3:])
    network.refresh_from_db()
    assert (network.status, network.ledger_version) == ("running", b)
    assert _runs(network) == {"pinned-0": b, "pinned-1": b}
    halted = next(s for s in op["steps"] if s["code"] == "upgrade_halted")["params"]["height"]

    # B executes transactions, on both validators, with one app hash.
    tx = client.post(f"/api/v1/networks/{network_id}/gateway/tx/",
                     {"chaincode": "kv", "function": "put", "args": ["after", "upgrade"]},
                     format="json")
    assert tx.status_code == 200 and tx.json()["code"] == 0, tx.content
    nodes = list(network.nodes.exclude(status="deleted"))
    heights = [rpc.status(n.rpc_url).height for n in nodes]
    common = min(heights)
    assert common > halted + 1
    hashes = {n.moniker: rpc.app_hash(n.rpc_url, common) for n in nodes}
    assert len(set(hashes.values())) == 1 and "" not in hashes.values(), hashes
