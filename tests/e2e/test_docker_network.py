"""The same journey on the DOCKER driver against a real engine: create a 4-validator
network through the API, transaction through the gateway, a lost container recreated by
the reconciler, stop, start, delete -- and
afterwards no container, volume or network of this install remains."""

from __future__ import annotations

import time

import pytest
from rest_framework.test import APIClient

from conftest import require_service
from deploy.choices import NetworkStatus, NodeStatus
from deploy.drivers import DriverError, get_driver
from deploy.models import Network, Node
from deploy.reconcile import reconcile
from deploy.tests.factories import MembershipFactory
from tests.e2e.test_local_network import lifecycle, wait_operation

pytestmark = [pytest.mark.slow, pytest.mark.docker, pytest.mark.cometbft]


@pytest.fixture
def docker_ready():
    try:
        driver = get_driver("docker")
        driver.check()
        from deploy.drivers.runtimes import current_version

        driver.ensure_runtime(current_version())  # an image of this ledger/ is here
    except DriverError as exc:
        require_service("docker", False, f"{exc.code}: {exc.message}")


def _labelled(install_id: str) -> dict[str, list]:
    import docker

    client = docker.from_env(timeout=30)
    label = f"baas.install={install_id}"
    return {
        "containers": client.containers.list(all=True, filters={"label": label}),
        "volumes": client.volumes.list(filters={"label": label}),
        "networks": client.networks.list(filters={"label": label}),
    }


def test_docker_network_end_to_end(docker_ready, celery_worker, e2e_env):
    owner = MembershipFactory(role="owner")
    client = APIClient()
    client.force_authenticate(user=owner.user)
    res = client.post("/api/v1/networks/", {"name": "e2e-docker", "validators": 4,
                                            "driver": "docker"}, format="json")
    assert res.status_code == 202, res.content
    network_id = res.json()["network"]["id"]
    op = wait_operation(client, res.json()["operation"]["id"])
    assert op["state"] == "succeeded", (op["error_code"], op["error_message"])
    assert len(_labelled(e2e_env["BAAS_INSTALL_ID"])["containers"]) == 4

    gw = f"/api/v1/networks/{network_id}/gateway/"
    tx = client.post(gw + "tx/", {"chaincode": "kv", "function": "put",
                                  "args": ["city", "sejong"]}, format="json")
    assert tx.status_code == 200, tx.content
    # CometBFT indexes a committed tx a moment after the commit answers: look it up until
    # the index has it (a 404 until then is tx_not_found, not a failure).
    deadline = time.monotonic() + 30
    while True:
        found = client.get(gw + f"txs/{tx.json()['hash']}/")
        if found.status_code != 404 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert found.status_code == 200, found.content
    read = found.json()
    assert read["code"] == 0 and read["tx"]["args"] == ["city", "sejong"]

    # A validator's container disappears (removed by hand, lost by the host): the
    # reconciler recreates it on its named volume and the node catches up with its data.
    victim = Node.objects.filter(network_id=network_id).order_by("index")[1]
    [container] = [c for c in _labelled(e2e_env["BAAS_INSTALL_ID"])["containers"]
                   if c.labels.get("baas.node") == str(victim.pk)]
    container.remove(force=True)
    counts = reconcile()
    assert counts.get("nodes_restarted") == 1, counts
    deadline = time.monotonic() + 90
    while True:
        reconcile()
        network = Network.objects.get(pk=network_id)
        victim.refresh_from_db()
        if network.status == NetworkStatus.RUNNING and victim.status == NodeStatus.RUNNING:
            break
        assert time.monotonic() < deadline, (network.status, victim.status, victim.detail)
        time.sleep(1)
    assert victim.restart_count == 1 and victim.height >= read["height"]
    assert len(_labelled(e2e_env["BAAS_INSTALL_ID"])["containers"]) == 4  # no duplicate

    assert lifecycle(client, network_id, "stop")["state"] == "succeeded"
    assert lifecycle(client, network_id, "start")["state"] == "succeeded"
    query = client.post(gw + "query/", {"chaincode": "kv", "function": "get",
                                        "args": ["city"]}, format="json")
    assert query.json()["result"] == "sejong"

    assert lifecycle(client, network_id, "delete")["state"] == "succeeded"
    left = _labelled(e2e_env["BAAS_INSTALL_ID"])
    assert left == {"containers": [], "volumes": [], "networks": []}, left
