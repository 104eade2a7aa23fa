"""The reconciler repairs drift a driver reports (the Kubernetes driver's ``drift``): the
network's nodes are applied again; a driver that reports none, or cannot tell, is left
alone."""

from __future__ import annotations

import pytest

from deploy import reconcile, services, tasks
from deploy.choices import NetworkStatus
from deploy.drivers import DriverError
from deploy.services import NetworkSpec

pytestmark = pytest.mark.django_db


@pytest.fixture
def running(owner, fake_driver, cometbft, monkeypatch):
    monkeypatch.setattr("deploy.tasks.network_provision_task.delay", lambda *a: None)
    network, op = services.network_create(tenant=owner.tenant, actor=owner.user,
                                          spec=NetworkSpec(name="drift", validators=3))
    tasks.network_provision_task(str(network.pk), op.pk)
    network.refresh_from_db()
    assert network.status == NetworkStatus.RUNNING, network.error_message
    return network


@pytest.fixture
def applied(fake_driver, monkeypatch):
    calls: list[str] = []
    real = fake_driver.apply_node

    def apply_node(spec):
        calls.append(spec.node_id)
        return real(spec)

    monkeypatch.setattr(fake_driver, "apply_node", apply_node)
    return calls


def test_a_network_that_drifted_gets_its_nodes_applied_again(running, fake_driver, applied):
    asked = []
    fake_driver.drift = lambda *, network_id: asked.append(network_id) or [
        "StatefulSet node0: .spec.replicas is 0, the driver set 1"]
    counts = reconcile.reconcile()
    assert asked == [str(running.pk)]
    assert counts["drift_repaired"] == 3
    assert sorted(applied) == sorted(str(pk) for pk in running.nodes.values_list("pk", flat=True))
    # the specs handed over are the stored homes: the same bytes as at provisioning
    assert all(e["files"] for e in fake_driver.nodes.values())


def test_no_drift_means_no_apply(running, fake_driver, applied):
    fake_driver.drift = lambda *, network_id: []
    counts = reconcile.reconcile()
    assert applied == [] and counts.get("drift_repaired", 0) == 0


def test_one_node_that_cannot_be_applied_does_not_stop_the_repair(running, fake_driver,
                                                                    monkeypatch):
    fake_driver.drift = lambda *, network_id: ["Service node1 is missing"]
    real = fake_driver.apply_node
    first = str(running.nodes.order_by("index").first().pk)

    def apply_node(spec):
        if spec.node_id == first:
            raise DriverError("runtime_mismatch", "runs another version")
        return real(spec)

    monkeypatch.setattr(fake_driver, "apply_node", apply_node)
    counts = reconcile.reconcile()
    assert counts["drift_repaired"] == 2 and counts.get("errors", 0) == 0
