"""The reconciler stays bounded and does not fight the user (review findings 3, 6, 7, 9):
one pass at a time, an unreachable cluster skipped for the rest of a pass, repairs that read
the network again before each node and keep away from a stop, a repair that changes nothing
backing off, leftovers of deleted nodes removed rather than re-applied, and a network on a
dead cluster of its tenant deleted with a warning."""

from __future__ import annotations

import threading

import pytest

from baas.models import Operation
from deploy import reconcile, services, tasks
from deploy.choices import DesiredState, NetworkStatus, NodeStatus
from deploy.drivers import DriverError
from deploy.models import Cluster, Network, Node, NodeKey
from deploy.services import NetworkSpec

pytestmark = pytest.mark.django_db


def _running(owner, name: str) -> Network:
    network, op = services.network_create(tenant=owner.tenant, actor=owner.user,
                                          spec=NetworkSpec(name=name, validators=3))
    tasks.network_provision_task(str(network.pk), op.pk)
    network.refresh_from_db()
    assert network.status == NetworkStatus.RUNNING, network.error_message
    return network


@pytest.fixture
def running(owner, fake_driver, cometbft, monkeypatch):
    monkeypatch.setattr("deploy.tasks.network_provision_task.delay", lambda *a: None)
    return _running(owner, "bounds")


@pytest.fixture
def applied(fake_driver, monkeypatch):
    calls: list[str] = []
    real = fake_driver.apply_node

    def apply_node(spec):
        calls.append(spec.node_id)
        return real(spec)

    monkeypatch.setattr(fake_driver, "apply_node", apply_node)
    return calls


# --- finding 3: single flight, unreachable clusters -------------------------------------------


def test_two_concurrent_passes_one_runs_the_other_exits(monkeypatch):
    started, release, runs = threading.Event(), threading.Event(), []

    def slow_pass():
        runs.append(1)
        started.set()
        release.wait(10)
        return {"slow": 1}

    monkeypatch.setattr(reconcile, "_reconcile_pass", slow_pass)
    result: dict = {}
    first = threading.Thread(target=lambda: result.update(reconcile.reconcile()))
    first.start()
    assert started.wait(5)
    try:
        assert reconcile.reconcile() == {"skipped_busy": 1}
    finally:
        release.set()
        first.join(10)
    assert result == {"slow": 1} and runs == [1]
    # the lock is released with the pass: the next one runs
    assert reconcile.reconcile() == {"slow": 1} and runs == [1, 1]


def test_a_lock_held_by_a_dead_pass_expires(monkeypatch):
    from django.core.cache import cache

    monkeypatch.setattr(reconcile, "_reconcile_pass", lambda: {"ran": 1})
    cache.set(reconcile.LOCK_KEY, "a pass killed mid-way", timeout=1)
    assert reconcile.reconcile() == {"skipped_busy": 1}
    cache.delete(reconcile.LOCK_KEY)  # what the TTL does
    assert reconcile.reconcile() == {"ran": 1}


def test_an_unreachable_cluster_is_asked_once_per_pass(owner, running, fake_driver,
                                                       monkeypatch):
    second = _running(owner, "bounds-2")
    asked: list[str] = []

    def down(*, network_id, node_id):
        asked.append(network_id)
        raise DriverError("driver_timeout", "the API server did not answer within 30s")

    monkeypatch.setattr(fake_driver, "inspect_node", down)
    counts = reconcile.reconcile()
    assert len(asked) == 1, "the second network waited out the same dead cluster"
    assert counts["driver_errors"] == 1 and counts["skipped_unreachable"] == 1
    assert {str(running.pk), str(second.pk)} >= set(asked)


def test_a_slow_cluster_gets_its_budget_of_a_pass_not_more(owner, running, fake_driver,
                                                           monkeypatch):
    _running(owner, "bounds-slow")
    monkeypatch.setattr(reconcile, "CLUSTER_BUDGET_S", 0.05)
    asked: list[str] = []
    real = fake_driver.inspect_node

    def slow(*, network_id, node_id):
        asked.append(network_id)
        reconcile.time.sleep(0.03)
        return real(network_id=network_id, node_id=node_id)

    monkeypatch.setattr(fake_driver, "inspect_node", slow)
    counts = reconcile.reconcile()
    assert len(set(asked)) == 1 and counts["skipped_over_budget"] == 1


def test_a_node_level_error_does_not_skip_the_cluster(owner, running, fake_driver,
                                                      monkeypatch):
    _running(owner, "bounds-3")
    asked: list[str] = []
    real = fake_driver.inspect_node

    def refuses(*, network_id, node_id):
        asked.append(network_id)
        if len(asked) == 1:
            raise DriverError("node_not_found", "one node's trouble")
        return real(network_id=network_id, node_id=node_id)

    monkeypatch.setattr(fake_driver, "inspect_node", refuses)
    counts = reconcile.reconcile()
    assert len(asked) == 6 and counts.get("skipped_unreachable", 0) == 0


# --- finding 6: repairs read the network again ---------------------------------------------


def test_a_stop_during_the_repair_stops_the_repair(running, fake_driver, applied):
    fake_driver.drift = lambda *, network_id: ["Service node0 is missing"]
    real = fake_driver.apply_node

    def apply_then_user_stops(spec):
        result = real(spec)
        # the user's stop commits while the pass repairs
        Network.objects.filter(pk=running.pk).update(status=NetworkStatus.STOPPING,
                                                     desired_state=DesiredState.STOPPED)
        return result

    fake_driver.repair_node = apply_then_user_stops
    counts = reconcile.reconcile()
    assert counts["drift_repaired"] == 1  # the first node only; the others are left alone


def test_an_operation_started_during_the_pass_wins(running, fake_driver, owner):
    fake_driver.drift = lambda *, network_id: ["Service node0 is missing"]
    repaired: list[str] = []

    def repair_node(spec):
        repaired.append(spec.node_id)
        Operation.objects.create(tenant=owner.tenant, kind="network.upgrade", state="queued",
                                 target_type="deploy.network", target_id=str(running.pk))
        return fake_driver.inspect_node(network_id=spec.network_id, node_id=spec.node_id)

    fake_driver.repair_node = repair_node
    reconcile.reconcile()
    assert len(repaired) == 1


def test_a_node_stopped_by_a_stop_during_the_pass_is_not_restarted(running, fake_driver,
                                                                   applied, monkeypatch):
    """The pass read the network as running; the user's stop scaled the node down before
    the pass looked at it: that is not a crash to recover."""
    real = fake_driver.inspect_node

    def stopped_meanwhile(*, network_id, node_id):
        Network.objects.filter(pk=running.pk).update(status=NetworkStatus.STOPPING,
                                                     desired_state=DesiredState.STOPPED)
        fake_driver.stop_node(network_id=network_id, node_id=node_id)
        return real(network_id=network_id, node_id=node_id)

    monkeypatch.setattr(fake_driver, "inspect_node", stopped_meanwhile)
    counts = reconcile.reconcile()
    assert applied == [] and counts.get("nodes_restarted", 0) == 0
    assert not running.nodes.filter(status=NodeStatus.CRASHED).exists()


def test_a_repair_uses_repair_node_when_the_driver_has_it(running, fake_driver, applied):
    fake_driver.drift = lambda *, network_id: ["Service node0 is missing"]
    repaired: list[str] = []
    fake_driver.repair_node = lambda spec: repaired.append(spec.node_id)
    reconcile.reconcile()
    assert len(repaired) == 3 and applied == []


# --- finding 7: back off, leftovers ---------------------------------------------------------


def test_a_repair_that_changes_nothing_backs_off(running, fake_driver, applied, monkeypatch,
                                                 caplog):
    fake_driver.drift = lambda *, network_id: ["StatefulSet node9 of node x is missing"]
    assert reconcile.reconcile()["drift_repaired"] == 3
    applied.clear()
    for _ in range(3):  # the same drift after the repair: not again every pass
        assert reconcile.reconcile().get("drift_repaired", 0) == 0
    assert applied == []
    assert sum("did not change the drift" in r.message for r in caplog.records) == 1
    now = reconcile._clock()
    monkeypatch.setattr(reconcile, "_clock", lambda: now + reconcile.DRIFT_BACKOFF_S + 1)
    assert reconcile.reconcile()["drift_repaired"] == 3  # tried again after the interval
    assert reconcile.reconcile().get("drift_repaired", 0) == 0  # and backs off again
    # a different drift is repaired at once
    fake_driver.drift = lambda *, network_id: ["Service node1 is missing"]
    assert reconcile.reconcile()["drift_repaired"] == 3


def test_a_node_added_while_the_cluster_is_listed_is_not_a_leftover(running, fake_driver,
                                                                   applied):
    """A validator add that saves its node row while the (slow) listing runs: its objects
    are listed, and so is its row, read after the listing; it is never deleted mid-add."""
    deleted: list[str] = []

    def node_ids(*, network_id):
        last = running.nodes.order_by("index").last()
        Node.objects.create(network=running, tenant=running.tenant, index=99,
                            moniker="added-meanwhile", host=last.host, p2p_port=1,
                            rpc_port=2, abci_port=3)
        return {str(n.pk) for n in running.nodes.all()}

    fake_driver.node_ids = node_ids
    fake_driver.delete_node = lambda *, network_id, node_id: deleted.append(node_id)
    fake_driver.drift = lambda *, network_id: []
    reconcile.reconcile()
    assert str(Node.objects.get(network=running, index=99).pk) not in deleted
    assert deleted == []


def test_drift_left_alone_for_a_busy_operation_is_repaired_once_it_ends(
        running, fake_driver, applied, owner):
    """The back-off is armed only by a repair that ran: drift skipped because an operation
    was busy is repaired at the next pass after it, not DRIFT_BACKOFF_S later."""
    fake_driver.drift = lambda *, network_id: ["Service node1 is missing"]
    busy = Operation.objects.create(tenant=owner.tenant, kind="network.stop",
                                    target_type="deploy.network", target_id=str(running.pk),
                                    state="running")
    assert reconcile.reconcile().get("drift_repaired", 0) == 0
    assert applied == []
    Operation.objects.filter(pk=busy.pk).update(state="succeeded")
    assert reconcile.reconcile()["drift_repaired"] == 3


def test_a_delete_that_lands_during_the_repair_apply_is_not_undone(running, fake_driver,
                                                                  applied, monkeypatch):
    """The apply recreates the namespace of a network whose delete finished meanwhile: the
    repair takes it away again instead of leaving a deleted network's objects behind."""
    removed: list[str] = []
    fake_driver.drift = lambda *, network_id: ["Service node1 is missing"]
    real_apply = fake_driver.apply_node

    def apply_then_deleted(spec):
        state = real_apply(spec)
        Network.objects.filter(pk=running.pk).update(status=NetworkStatus.DELETED)
        return state

    fake_driver.apply_node = apply_then_deleted
    fake_driver.delete_network = lambda *, network_id: removed.append(network_id)
    # The platform's orphan sweep would remove it later too; a registered cluster has none.
    monkeypatch.setattr(reconcile, "remove_orphans", lambda: 0)
    reconcile.reconcile()
    assert removed == [str(running.pk)]


def test_leftovers_of_a_node_the_database_no_longer_has_are_deleted(running, fake_driver,
                                                                    applied, owner):
    """An interrupted delete_node left objects of a deleted node: deleted, not applied."""
    gone = running.nodes.order_by("index").last()
    gone.status = NodeStatus.DELETED
    gone.save(update_fields=["status"])
    stray = "5b0f6a3e-0000-4000-8000-000000000000"
    left = {str(gone.pk), stray}
    fake_driver.node_ids = lambda *, network_id: {str(n.pk) for n in running.nodes.all()} | left
    deleted: list[str] = []
    fake_driver.delete_node = lambda *, network_id, node_id: (deleted.append(node_id),
                                                              left.discard(node_id))
    fake_driver.drift = lambda *, network_id: [f"StatefulSet node2 of node {n} is missing"
                                               for n in sorted(left)]
    counts = reconcile.reconcile()
    assert set(deleted) == {str(gone.pk), stray}  # (the orphan sweep may ask again)
    assert str(gone.pk) not in applied and stray not in applied
    assert counts.get("drift_repaired", 0) == 0  # nothing left to repair once they are gone


def test_a_whole_node_left_by_a_broken_delete_is_removed_without_drift(running, fake_driver,
                                                                       applied, owner):
    """Its objects are consistent (no drift), but the database deleted the node: it must
    not run on as a validator nobody supervises."""
    stray = "5b0f6a3e-0000-4000-8000-000000000001"
    left = {stray}
    fake_driver.node_ids = lambda *, network_id: {str(n.pk) for n in running.nodes.all()} | left
    deleted: list[str] = []
    fake_driver.delete_node = lambda *, network_id, node_id: (deleted.append(node_id),
                                                              left.discard(node_id))
    fake_driver.drift = lambda *, network_id: []
    Operation.objects.create(tenant=owner.tenant, kind="network.validator_add", state="running",
                             target_type="deploy.network", target_id=str(running.pk))
    reconcile.reconcile()
    assert deleted == []  # an add in progress: its node may not be recorded yet
    Operation.objects.filter(target_id=str(running.pk), state="running").update(
        state="succeeded")
    reconcile.reconcile()
    assert deleted == [stray] and applied == []


# --- finding 9: deleting a network on a dead cluster of its tenant ---------------------------


def _on_cluster(network: Network, tenant) -> Cluster:
    cluster = Cluster.objects.create(tenant=tenant, name="theirs", server="https://k.example",
                                     sealed_kubeconfig=b"sealed")
    Network.objects.filter(pk=network.pk).update(cluster=cluster)
    return cluster


@pytest.mark.parametrize("code", ["driver_unavailable", "driver_timeout", "cluster_forbidden",
                                  "cluster_refused"])
def test_a_network_on_a_dead_tenant_cluster_is_deleted_with_a_warning(
        running, fake_driver, owner, monkeypatch, code):
    monkeypatch.setattr("deploy.drivers.registry._network_options", None)
    monkeypatch.setattr("deploy.tasks.network_delete_task.delay", lambda *a: None)
    _on_cluster(running, owner.tenant)

    def dead(**kwargs):
        raise DriverError(code, "the cluster is gone")

    monkeypatch.setattr(fake_driver, "delete_node", dead)
    monkeypatch.setattr(fake_driver, "delete_network", dead)
    assert NodeKey.objects.filter(node__network=running).exists()
    op = services.network_delete(tenant=owner.tenant, actor=owner.user, network=running)
    tasks.network_delete_task(str(running.pk), op.pk)
    running.refresh_from_db()
    op.refresh_from_db()
    assert running.status == NetworkStatus.DELETED
    assert op.state == "succeeded"
    assert not NodeKey.objects.filter(node__network=running).exists()
    assert not running.nodes.exclude(status=NodeStatus.DELETED).exists()
    warning = [s for s in op.steps if s.get("code") == "cluster_leftovers_possible"]
    assert warning and warning[0]["params"]["reason"] == code
    assert op.steps[-1]["code"] == "network_deleted_with_leftovers"


def test_on_a_platform_cluster_the_same_failure_stays_a_failure(running, fake_driver, owner,
                                                                monkeypatch):
    monkeypatch.setattr("deploy.drivers.registry._network_options", None)
    monkeypatch.setattr("deploy.tasks.network_delete_task.delay", lambda *a: None)
    _on_cluster(running, None)

    def dead(**kwargs):
        raise DriverError("driver_unavailable", "the cluster is gone")

    monkeypatch.setattr(fake_driver, "delete_node", dead)
    op = services.network_delete(tenant=owner.tenant, actor=owner.user, network=running)
    tasks.network_delete_task(str(running.pk), op.pk)
    running.refresh_from_db()
    op.refresh_from_db()
    assert op.state == "failed" and op.error_code == "driver_unavailable"
    assert running.status != NetworkStatus.DELETED
    assert NodeKey.objects.filter(node__network=running).exists()
