"""Kill the worker in the middle of provisioning: the reconciler re-queues the task, a new
worker resumes it, and the network converges with exactly one process (local) or one
container (Docker) per validator."""

from __future__ import annotations

import time

import pytest
from rest_framework.test import APIClient

from baas.models import Operation
from deploy.choices import NetworkStatus
from deploy.drivers import get_driver
from deploy.models import Network
from deploy.reconcile import reconcile
from deploy.tests.factories import MembershipFactory
from tests.e2e.test_docker_network import _labelled, docker_ready  # noqa: F401 (fixture)
from tests.e2e.test_local_network import wait_operation

pytestmark = [pytest.mark.slow, pytest.mark.cometbft]


@pytest.fixture(params=["local", pytest.param("docker", marks=pytest.mark.docker)])
def driver_name(request) -> str:
    if request.param == "docker":
        request.getfixturevalue("docker_ready")
    return request.param


def test_killed_worker_mid_provisioning_converges_without_duplicates(
    driver_name, celery_worker, e2e_env, settings
):
    owner = MembershipFactory(role="owner")
    client = APIClient()
    client.force_authenticate(user=owner.user)
    res = client.post("/api/v1/networks/", {"name": "crashy", "validators": 4,
                                            "driver": driver_name}, format="json")
    network_id, op_id = res.json()["network"]["id"], res.json()["operation"]["id"]

    # Wait until the worker has started at least one validator, then kill it outright.
    deadline = time.monotonic() + 60
    while not any("started" in s["message"] for s in Operation.objects.get(pk=op_id).steps):
        op = Operation.objects.get(pk=op_id)
        assert op.state == "running" or op.state == "queued", op.steps
        assert time.monotonic() < deadline, op.steps
        time.sleep(0.05)
    first = celery_worker.procs[-1]
    first.kill()
    first.wait()
    network = Network.objects.get(pk=network_id)
    assert network.status == NetworkStatus.PROVISIONING  # really interrupted mid-way
    assert Operation.objects.get(pk=op_id).state == "running"

    # A fresh worker; the killed one's message is gone with it. Neither the reconciler here
    # nor the worker's claim waits two minutes of silence: both see the killed run's
    # claim as stale at once, as both would after DEPLOY_STALL_S in production.
    celery_worker({"DEPLOY_STALL_S": "0"})
    settings.DEPLOY_STALL_S = 0
    assert reconcile().get("operations_resumed") == 1

    op = wait_operation(client, op_id)
    assert op["state"] == "succeeded", (op["error_code"], op["error_message"], op["steps"])
    assert any("resuming" in s["message"] for s in op["steps"])
    network.refresh_from_db()
    assert network.status == NetworkStatus.RUNNING
    driver = get_driver(driver_name)
    owned = driver.list_owned(install_id=e2e_env["BAAS_INSTALL_ID"])
    db_nodes = sorted(str(pk) for pk in network.nodes.values_list("pk", flat=True))
    assert len(db_nodes) == 4
    assert all(driver.inspect_node(network_id=network_id, node_id=n).running for n in db_nodes)
    if driver_name == "local":
        node_dirs = sorted(r.node_id for r in owned if r.kind == "dir" and r.node_id)
        assert node_dirs == db_nodes  # one home per validator, no extras
        # every process this install runs belongs to one of those validators
        assert {r.node_id for r in owned if r.kind == "process"} == set(db_nodes)
    else:
        containers = _labelled(e2e_env["BAAS_INSTALL_ID"])["containers"]
        assert sorted(c.labels["baas.node"] for c in containers) == db_nodes  # no duplicate
