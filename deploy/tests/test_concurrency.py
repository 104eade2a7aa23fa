"""Background actors and requests racing each other, each in its own thread with its own
database connection, released together by a barrier (issue 7). On PostgreSQL only the
right lock or claim makes each converge; SQLite's IMMEDIATE transactions serialise every
writer, so there they pass either way. CI runs them on both.

Each converges to the user's last wish with nothing left running unseen.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from django.db import connection

from baas.errors import AppError
from baas.models import Operation
from deploy import services, tasks
from deploy.choices import NetworkStatus, NodeStatus
from deploy.models import Network
from deploy.services import NetworkSpec

pytestmark = pytest.mark.django_db(transaction=True)


def _race(*calls: Callable[[], object]) -> list[object]:
    barrier = threading.Barrier(len(calls))
    results: list[object] = [None] * len(calls)

    def run(i: int, call: Callable[[], object]) -> None:
        try:
            barrier.wait(timeout=10)
            results[i] = call()
        except AppError as exc:
            results[i] = exc.code
        except Exception as exc:  # noqa: BLE001 -- a deadlock is a finding too
            results[i] = repr(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return results


@pytest.fixture
def quiet_queue(monkeypatch):
    sent: list[tuple] = []
    for name in ("network_provision_task", "network_delete_task", "network_stop_task",
                 "validator_add_task"):
        monkeypatch.setattr(f"deploy.tasks.{name}.delay", lambda *a, _s=sent: _s.append(a))
    return sent


def test_two_creates_at_the_quota_limit_make_one_network(owner, quiet_queue, monkeypatch):
    type(owner.tenant).objects.filter(pk=owner.tenant_id).update(max_networks=1)
    owner.tenant.refresh_from_db()
    real = services._check_quota

    def slow_check(**kwargs):  # widen the window between counting and inserting
        real(**kwargs)
        time.sleep(0.3)

    monkeypatch.setattr(services, "_check_quota", slow_check)
    results = _race(*(
        (lambda n=n: services.network_create(tenant=owner.tenant, actor=owner.user,
                                             spec=NetworkSpec(name=f"race-{n}", validators=1)))
        for n in range(2)))
    assert Network.objects.filter(tenant=owner.tenant).count() == 1, results
    assert "quota_exceeded" in results


def test_the_same_task_delivered_twice_at_once_runs_once(owner, fake_driver, cometbft,
                                                         quiet_queue, monkeypatch):
    network, op = services.network_create(tenant=owner.tenant, actor=owner.user,
                                          spec=NetworkSpec(name="twice", validators=2))
    real_apply = fake_driver.apply_node
    lock = threading.Lock()

    def slow_apply(spec):  # the first run is still applying nodes when the second arrives
        time.sleep(0.2)
        with lock:
            return real_apply(spec)

    monkeypatch.setattr(fake_driver, "apply_node", slow_apply)
    _race(lambda: tasks.network_provision_task(str(network.pk), op.pk),
          lambda: tasks.network_provision_task(str(network.pk), op.pk))
    network.refresh_from_db()
    op.refresh_from_db()
    assert (network.status, op.state) == (NetworkStatus.RUNNING, "succeeded"), op.steps
    assert len(fake_driver.applied) == 2  # each node applied once: one run did the work
    assert [s["code"] for s in op.steps].count("running") == 1


def test_a_delete_during_provisioning_wins_and_nothing_keeps_running(
        owner, fake_driver, cometbft, quiet_queue, monkeypatch):
    network, op = services.network_create(tenant=owner.tenant, actor=owner.user,
                                          spec=NetworkSpec(name="gone", validators=3))
    real_apply = fake_driver.apply_node

    def slow_apply(spec):
        time.sleep(0.3)
        return real_apply(spec)

    monkeypatch.setattr(fake_driver, "apply_node", slow_apply)

    def delete_soon():
        time.sleep(0.4)  # while the first nodes start
        return services.network_delete(tenant=owner.tenant, actor=owner.user,
                                       network=Network.objects.get(pk=network.pk))

    results = _race(lambda: tasks.network_provision_task(str(network.pk), op.pk), delete_soon)
    delete = results[1]
    assert isinstance(delete, Operation), results
    tasks.network_delete_task(str(network.pk), delete.pk)
    network.refresh_from_db()
    op.refresh_from_db()
    assert network.status == NetworkStatus.DELETED
    assert (op.state, op.error_code) == ("failed", "superseded")
    assert not any(e.get("running") for e in fake_driver.nodes.values())
    assert set(network.nodes.values_list("status", flat=True)) <= {NodeStatus.DELETED}


def test_a_delete_during_a_validator_add_converges_to_deleted(
        owner, fake_driver, cometbft, quiet_queue, monkeypatch):
    """The add would succeed on its own (the chain takes the new validator); the user
    deletes the network meanwhile and the delete runs at the same time. Whatever the
    interleaving, after the next reconciler pass the network is deleted and nothing of it
    runs: a node the add started after the delete went is an orphan the pass removes."""
    from deploy import reconcile

    network, op = services.network_create(tenant=owner.tenant, actor=owner.user,
                                          spec=NetworkSpec(name="grow", validators=1))
    tasks.network_provision_task(str(network.pk), op.pk)
    network.refresh_from_db()
    assert network.status == NetworkStatus.RUNNING
    monkeypatch.setattr("deploy.rpc.validator_keys", lambda url, timeout=2.0: set())
    monkeypatch.setattr("deploy.rpc.voting_power", lambda url, timeout=2.0: (10, False))

    def add_takes_a_block(net, chaincode, function, args, **kw):
        time.sleep(0.3)
        return {}

    monkeypatch.setattr("deploy.chain.governance_tx", add_takes_a_block)
    add = services.validator_add(tenant=owner.tenant, actor=owner.user, network=network)

    def delete_soon():
        time.sleep(0.2)
        delete = services.network_delete(tenant=owner.tenant, actor=owner.user,
                                         network=Network.objects.get(pk=network.pk))
        tasks.network_delete_task(str(network.pk), delete.pk)
        return delete

    results = _race(lambda: tasks.validator_add_task(str(network.pk), add.pk), delete_soon)
    assert isinstance(results[1], Operation), results
    reconcile.reconcile()
    network.refresh_from_db()
    add.refresh_from_db()
    assert network.status == NetworkStatus.DELETED, results
    assert add.state in ("failed", "succeeded")
    assert not any(e.get("running") for e in fake_driver.nodes.values()), fake_driver.nodes
