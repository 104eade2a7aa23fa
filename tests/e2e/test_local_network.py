"""A tenant's whole journey on the LOCAL driver, with real CometBFT validators and a real
Celery worker process: create -> running -> transaction through the gateway -> read back
-> a killed node is restarted by the reconciler -> stop -> start -> delete.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest
from rest_framework.test import APIClient

from deploy.choices import NetworkStatus, NodeStatus
from deploy.drivers import get_driver
from deploy.models import Network
from deploy.reconcile import reconcile
from deploy.tests.factories import MembershipFactory

pytestmark = [pytest.mark.slow, pytest.mark.cometbft]

OP_TIMEOUT_S = 180


def wait_operation(client: APIClient, op_id: int) -> dict:
    deadline = time.monotonic() + OP_TIMEOUT_S
    while time.monotonic() < deadline:
        op = client.get(f"/api/v1/operations/{op_id}/").json()
        if op["state"] in ("succeeded", "failed", "cancelled"):
            return op
        time.sleep(0.5)
    raise AssertionError(f"operation {op_id} still {op['state']}: {op['steps'][-3:]}")


def lifecycle(client: APIClient, network_id: str, verb: str) -> dict:
    url = f"/api/v1/networks/{network_id}/" + ("" if verb == "delete" else f"{verb}/")
    res = client.delete(url) if verb == "delete" else client.post(url)
    assert res.status_code == 202, res.content
    return wait_operation(client, res.json()["operation"]["id"])


def node_pid(nodes_dir: str, network_id: str, node_id: str) -> int:
    info = json.loads((Path(nodes_dir) / network_id / node_id / "node.pid").read_text())
    return int(info["pid"])


def test_local_network_end_to_end(celery_worker, e2e_env):
    owner = MembershipFactory(role="owner")
    client = APIClient()
    client.force_authenticate(user=owner.user)

    res = client.post("/api/v1/networks/", {"name": "e2e-local", "validators": 4,
                                            "driver": "local"}, format="json")
    assert res.status_code == 202, res.content
    network_id = res.json()["network"]["id"]
    op = wait_operation(client, res.json()["operation"]["id"])
    assert op["state"] == "succeeded", op
    net = client.get(f"/api/v1/networks/{network_id}/").json()
    assert net["status"] == "running", net
    nodes = client.get(f"/api/v1/networks/{network_id}/nodes/").json()["results"]
    assert len(nodes) == 4 and all(n["status"] == "running" and n["height"] >= 1 for n in nodes)

    gw = f"/api/v1/networks/{network_id}/gateway/"
    res = client.post(gw + "tx/", {"chaincode": "kv", "function": "put",
                                   "args": ["greeting", "annyeong"]}, format="json")
    assert res.status_code == 200, res.content
    tx = res.json()
    assert tx["code"] == 0 and tx["height"] >= 1
    read = client.get(gw + f"txs/{tx['hash']}/").json()
    assert read["height"] == tx["height"] and read["code"] == 0
    assert read["tx"]["function"] == "put" and read["tx"]["args"] == ["greeting", "annyeong"]
    query = client.post(gw + "query/", {"chaincode": "kv", "function": "get",
                                        "args": ["greeting"]}, format="json")
    assert query.status_code == 200 and query.json()["result"] == "annyeong"
    block = client.get(gw + f"blocks/{tx['height']}/").json()
    assert tx["hash"] in block["txs"]
    assert client.get(gw + "blocks/?limit=3").json()["blocks"]

    # A tx the caller signed itself is broadcast as is; this key is not a member of the
    # permissioned network, so the ledger refuses it and the gateway says so with its code.
    from ledger.tx import Signer, build_tx

    foreign = build_tx(signer=Signer.generate(), chain_id=net["chain_id"], chaincode="kv",
                       function="put", args=["intruder", "x"])
    res = client.post(gw + "tx/", {"tx": base64.b64encode(foreign).decode()}, format="json")
    assert res.status_code == 422, res.content
    assert res.json()["error"]["code"] == "tx_rejected"
    assert res.json()["error"]["details"]["stage"] == "CheckTx"

    # Server-sent events: subscribe, then commit a tx; its event arrives on the stream.
    received: list[bytes] = []
    subscribed = threading.Event()

    def listen() -> None:
        stream = client.get(gw + "events/?timeout=5")
        for chunk in stream.streaming_content:
            received.append(chunk)
            if chunk.startswith(b"event: subscribed"):
                subscribed.set()

    listener = threading.Thread(target=listen)
    listener.start()
    assert subscribed.wait(timeout=30), b"".join(received)[:500]
    client.post(gw + "tx/", {"chaincode": "kv", "function": "put",
                             "args": ["seen", "by-sse"]}, format="json")
    listener.join(timeout=60)
    stream_text = b"".join(received).decode()
    assert "event: ledger" in stream_text and "kv_put" in stream_text, stream_text[:500]
    assert stream_text.rstrip().endswith("data: {}")  # closed with "event: end"

    logs = client.get(f"/api/v1/networks/{network_id}/nodes/{nodes[0]['id']}/logs/?tail=20")
    assert logs.status_code == 200 and logs.json()["lines"]

    # Kill one validator outright; the reconciler notices, restarts it, and the network
    # goes back to running once it serves again.
    victim = nodes[1]["id"]
    os.kill(node_pid(e2e_env["BAAS_NODES_DIR"], network_id, victim), signal.SIGKILL)
    driver = get_driver("local")
    deadline = time.monotonic() + 20
    while driver.inspect_node(network_id=network_id, node_id=victim).running:
        assert time.monotonic() < deadline, "killed node still reported running"
        time.sleep(0.2)
    counts = reconcile()
    assert counts.get("nodes_restarted") == 1, counts
    deadline = time.monotonic() + 60
    while True:
        reconcile()
        network = Network.objects.get(pk=network_id)
        node = network.nodes.get(pk=victim)
        if network.status == NetworkStatus.RUNNING and node.status == NodeStatus.RUNNING:
            break
        assert time.monotonic() < deadline, (network.status, node.status, node.detail)
        time.sleep(1)
    assert node.restart_count == 1
    # the repair is visible to the tenant as an operation that ended when the node served
    recovered = client.get("/api/v1/operations/?kind=node.recover").json()["results"]
    assert [(o["target_id"], o["state"]) for o in recovered] == [(victim, "succeeded")]

    op = lifecycle(client, network_id, "stop")
    assert op["state"] == "succeeded", op
    assert client.get(f"/api/v1/networks/{network_id}/").json()["status"] == "stopped"
    assert not any(driver.inspect_node(network_id=network_id, node_id=n["id"]).running
                   for n in nodes)

    op = lifecycle(client, network_id, "start")
    assert op["state"] == "succeeded", op
    query = client.post(gw + "query/", {"chaincode": "kv", "function": "get",
                                        "args": ["greeting"]}, format="json")
    assert query.json()["result"] == "annyeong"  # the chain kept its state

    op = lifecycle(client, network_id, "delete")
    assert op["state"] == "succeeded", op
    assert Network.objects.get(pk=network_id).status == NetworkStatus.DELETED
    assert driver.list_owned(install_id=e2e_env["BAAS_INSTALL_ID"]) == []
    assert not (Path(e2e_env["BAAS_NODES_DIR"]) / network_id).exists()


def test_node_that_never_becomes_healthy_is_failed_and_deletable(
    celery_worker, e2e_env, tmp_path
):
    # A cometbft that initialises homes but crashes on start: the node never serves.
    real = Path(os.popen("command -v cometbft").read().strip())
    broken = tmp_path / "cometbft-broken"
    broken.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = start ]; then echo "simulated engine crash" >&2; exit 3; fi\n'
        f'exec {real} "$@"\n'
    )
    broken.chmod(0o755)
    celery_worker({"COMETBFT_BIN": str(broken), "DEPLOY_FIRST_BLOCK_TIMEOUT_S": "8"})

    owner = MembershipFactory(role="owner")
    client = APIClient()
    client.force_authenticate(user=owner.user)
    res = client.post("/api/v1/networks/", {"name": "doomed", "validators": 1}, format="json")
    network_id = res.json()["network"]["id"]
    op = wait_operation(client, res.json()["operation"]["id"])
    assert op["state"] == "failed" and op["error_code"] == "node_unhealthy", op
    net = client.get(f"/api/v1/networks/{network_id}/").json()
    assert net["status"] == "failed"
    assert net["error"]["code"] == "node_unhealthy"
    assert "did not commit a block" in net["error"]["message"]
    assert "cometbft exited with 3" in net["error"]["message"]  # the node's last log line
    driver = get_driver("local")
    node_id = client.get(f"/api/v1/networks/{network_id}/nodes/").json()["results"][0]["id"]
    assert not driver.inspect_node(network_id=network_id, node_id=node_id).running

    op = lifecycle(client, network_id, "delete")
    assert op["state"] == "succeeded", op
    assert driver.list_owned(install_id=e2e_env["BAAS_INSTALL_ID"]) == []
