"""Pinned ledger versions and the network upgrade, on the in-memory driver (the real
drivers' runtime stores have their own tests; tests/e2e/test_upgrade.py runs it all on
CometBFT).

"Version B" is a real second ledger version: a copy of ``ledger/`` with one extra file,
made the control plane's current ledger through ``BAAS_LEDGER_SOURCE``.
"""

from __future__ import annotations

import shutil

import pytest

from baas.errors import Conflict
from baas.models import Operation
from baas.operations import operation_cancel
from deploy import reconcile, rpc, services, states, tasks
from deploy.choices import NetworkStatus, NodeStatus
from deploy.drivers.runtimes import current_version
from deploy.models import Network
from deploy.services import NetworkSpec
from deploy.services.upgrade import network_upgrade

pytestmark = pytest.mark.django_db


@pytest.fixture
def version_b(tmp_path, settings):
    """Make the control plane's ledger/ another version; returns a function doing it."""
    from ledger.source_hash import ROOT

    def move() -> str:
        copy = tmp_path / "ledger-b" / "ledger"
        shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns("__pycache__", "tests"))
        (copy / "UPGRADE_NOTE.txt").write_text("version B: one harmless extra file\n")
        settings.BAAS_LEDGER_SOURCE = str(copy)
        return current_version()

    return move


@pytest.fixture
def running(owner, fake_driver, cometbft, monkeypatch):
    for name in ("network_provision_task", "validator_add_task", "network_upgrade_task"):
        monkeypatch.setattr(f"deploy.tasks.{name}.delay", lambda *a: None)
    network, op = services.network_create(
        tenant=owner.tenant, actor=owner.user, spec=NetworkSpec(name="pinned", validators=2))
    tasks.network_provision_task(str(network.pk), op.pk)
    network.refresh_from_db()
    assert network.status == NetworkStatus.RUNNING, network.error_message
    return network


@pytest.fixture
def chain_moves(monkeypatch, fake_driver):
    """RPC of a chain that commits while all its validators run (every /status then sees
    one block more) and stands still otherwise; every node's block store has the same app
    hash (unless a test says otherwise)."""
    chain = {"height": 10}

    def status(url, *, timeout=2.0):
        entries = list(fake_driver.nodes.values())
        if not any(e.get("running") and e.get("rpc") == url for e in entries):
            raise rpc.RpcError(f"{url}: connection refused")
        if all(e.get("running") for e in entries):
            chain["height"] += 1
        return rpc.NodeStatusInfo(height=chain["height"], catching_up=False, node_id="x")

    hashes: dict[str, str] = {}
    monkeypatch.setattr("deploy.rpc.status", status)
    monkeypatch.setattr("deploy.rpc.app_hash",
                        lambda url, height, timeout=2.0: hashes.get(url, "AB" * 32))
    return hashes


def _versions(fake_driver, network) -> set[str]:
    return {e["version"] for (net, _node), e in fake_driver.nodes.items()
            if net == str(network.pk)}


def _upgrade(network, owner, **kwargs) -> Operation:
    op = network_upgrade(tenant=owner.tenant, actor=owner.user, network=network, **kwargs)
    tasks.network_upgrade_task(str(network.pk), op.pk)
    op.refresh_from_db()
    return op


def test_a_network_records_the_ledger_version_it_was_made_with(running, fake_driver):
    version = current_version()
    assert running.ledger_version == version and len(version) == 16
    assert running.runtime_ref == f"fake:{version}"  # what the driver answered
    assert _versions(fake_driver, running) == {version}


def test_a_validator_added_later_runs_the_networks_version(running, fake_driver, owner,
                                                          version_b, monkeypatch):
    a = running.ledger_version
    b = version_b()
    assert b != a and current_version() == b
    monkeypatch.setattr("deploy.chain.governance_tx", lambda *a, **k: None)
    monkeypatch.setattr("deploy.rpc.voting_power", lambda url, timeout=2.0: (10, False))
    monkeypatch.setattr("deploy.rpc.validator_keys", lambda url, timeout=2.0: set())
    type(owner.tenant).objects.filter(pk=owner.tenant_id).update(max_validators_per_network=7)
    op = services.validator_add(tenant=owner.tenant, actor=owner.user, network=running)
    tasks.validator_add_task(str(running.pk), op.pk)
    op.refresh_from_db()
    assert op.state == "succeeded", op.error_message
    added = running.nodes.get(index=2)
    assert fake_driver.nodes[(str(running.pk), str(added.pk))]["version"] == a  # not b
    assert _versions(fake_driver, running) == {a}


def test_the_upgrade_moves_every_validator_at_one_height(running, fake_driver, owner,
                                                        version_b, chain_moves,
                                                        django_capture_on_commit_callbacks):
    from baas.testing import api_client_for
    from tenants.models import AuditEvent

    a, b = running.ledger_version, version_b()
    with django_capture_on_commit_callbacks(execute=False):
        res = api_client_for(owner.user, owner.tenant).post(
            f"/api/v1/networks/{running.pk}/upgrade/", {}, format="json")
    assert res.status_code == 202, res.content
    op = Operation.objects.get(pk=res.json()["operation"]["id"])
    assert op.kind == "network.upgrade" and op.params == {"from": a, "to": b}
    assert AuditEvent.objects.filter(action="network.upgrade").exists()
    tasks.network_upgrade_task(str(running.pk), op.pk)
    op.refresh_from_db()
    assert op.state == "succeeded", (op.error_code, op.error_message)
    running.refresh_from_db()
    assert (running.status, running.ledger_version, running.runtime_ref) == (
        NetworkStatus.RUNNING, b, f"fake:{b}")
    assert _versions(fake_driver, running) == {b}
    steps = [s["code"] for s in op.steps]
    assert steps.index("upgrade_halted") < steps.index("upgrade_switched") \
        < steps.index("app_hashes_equal") < steps.index("network_upgraded")
    halted = next(s for s in op.steps if s["code"] == "upgrade_halted")["params"]["height"]
    compared = next(s for s in op.steps if s["code"] == "app_hashes_equal")["params"]
    assert compared["height"] > halted + 1  # a block the new version executed everywhere
    assert all(n.status == NodeStatus.RUNNING for n in running.nodes.all())


def test_nodes_that_disagree_on_the_app_hash_fail_the_upgrade(running, fake_driver, owner,
                                                             version_b, chain_moves):
    version_b()
    first = running.nodes.order_by("index").first()
    chain_moves[fake_driver.nodes[(str(running.pk), str(first.pk))]["rpc"]] = "CD" * 32
    a = running.ledger_version
    op = _upgrade(running, owner)
    # the upgrade is rolled back: every validator runs the old version again
    assert (op.state, op.error_code) == ("failed", "upgrade_rolled_back")
    assert "CDCD" in op.error_message  # the reason it failed
    running.refresh_from_db()
    assert (running.status, running.ledger_version) == (NetworkStatus.RUNNING, a)
    assert _versions(fake_driver, running) == {a}
    assert all(e["running"] for e in fake_driver.nodes.values())


def test_an_upgrade_that_cannot_be_rolled_back_fails_the_network(running, fake_driver, owner,
                                                                  version_b, chain_moves,
                                                                  monkeypatch):
    from deploy.workflows import upgrade

    version_b()
    first = running.nodes.order_by("index").first()
    chain_moves[fake_driver.nodes[(str(running.pk), str(first.pk))]["rpc"]] = "CD" * 32

    def broken(network_id, version):
        raise RuntimeError("the old runtime is gone too")

    monkeypatch.setattr(upgrade, "roll_back", broken)
    op = _upgrade(running, owner)
    assert (op.state, op.error_code) == ("failed", "app_hash_mismatch")
    running.refresh_from_db()
    assert running.status == NetworkStatus.FAILED
    assert not any(e["running"] for e in fake_driver.nodes.values())  # nothing unsupervised


def test_only_the_platforms_own_version_is_an_upgrade_target(running, owner, version_b):
    from baas.testing import api_client_for

    b = version_b()
    url = f"/api/v1/networks/{running.pk}/upgrade/"
    res = api_client_for(owner.user, owner.tenant).post(
        url, {"ledger_version": "0123456789abcdef"}, format="json")
    assert (res.status_code, res.json()["error"]["code"]) == (400, "upgrade_target_not_allowed")
    assert res.json()["error"]["details"]["current"] == b


def test_a_version_the_driver_cannot_run_leaves_the_network_running(running, fake_driver,
                                                                   owner, version_b,
                                                                   chain_moves):
    a, b = running.ledger_version, version_b()
    fake_driver.missing_versions.add(b)
    op = _upgrade(running, owner)
    assert (op.state, op.error_code) == ("failed", "runtime_missing")
    running.refresh_from_db()
    assert (running.status, running.ledger_version) == (NetworkStatus.RUNNING, a)
    assert all(e["running"] for e in fake_driver.nodes.values())  # nothing was stopped
    assert _versions(fake_driver, running) == {a}


def test_an_upgrade_resumed_after_the_halt_converges(running, fake_driver, owner, version_b,
                                                     chain_moves):
    b = version_b()
    op = network_upgrade(tenant=owner.tenant, actor=owner.user, network=running)
    # a worker died after halting the chain: upgrading, every validator stopped
    states.network_transition(network_id=running.pk, to=NetworkStatus.UPGRADING)
    for node in running.nodes.all():
        fake_driver.stop_node(network_id=str(running.pk), node_id=str(node.pk))
        states.node_transition(node_id=node.pk, to=NodeStatus.STOPPED)
    assert reconcile.reconcile().get("nodes_restarted", 0) == 0  # left to the upgrade
    tasks.network_upgrade_task(str(running.pk), op.pk)
    op.refresh_from_db()
    assert op.state == "succeeded", (op.error_code, op.error_message)
    running.refresh_from_db()
    assert running.status == NetworkStatus.RUNNING and _versions(fake_driver, running) == {b}


def test_the_upgrade_is_refused_when_it_cannot_or_need_not_run(running, owner, version_b):
    from baas.testing import api_client_for, token_client
    from tenants.services import token_create
    from tenants.tests.factories import MembershipFactory

    client = api_client_for(owner.user, owner.tenant)
    url = f"/api/v1/networks/{running.pk}/upgrade/"
    res = client.post(url, {}, format="json")  # the control plane still runs its version
    assert (res.status_code, res.json()["error"]["code"]) == (409, "upgrade_not_needed")
    res = client.post(url, {"ledger_version": "not-a-version"}, format="json")
    assert (res.status_code, res.json()["error"]["code"]) == (400, "invalid_ledger_version")
    version_b()
    developer = MembershipFactory(tenant=owner.tenant, role="developer")
    res = api_client_for(developer.user, owner.tenant).post(url, {}, format="json")
    assert res.status_code == 403
    _token, raw = token_create(tenant=owner.tenant, actor=owner.user, membership=owner,
                               name="app", scopes=["read", "write"])
    res = token_client(raw).post(url, {}, format="json")
    assert (res.status_code, res.json()["error"]["code"]) == (403, "insufficient_scope")
    op = network_upgrade(tenant=owner.tenant, actor=owner.user, network=running)
    with pytest.raises(Conflict) as err:  # one change of the node set or software at a time
        services.validator_add(tenant=owner.tenant, actor=owner.user, network=running)
    assert err.value.code == "operation_in_progress"
    with pytest.raises(Conflict) as err:
        network_upgrade(tenant=owner.tenant, actor=owner.user, network=running)
    assert err.value.code == "operation_in_progress"
    with pytest.raises(Conflict) as err:
        operation_cancel(operation_id=op.pk, actor=owner.user)
    assert err.value.code == "operation_not_cancellable"
    Network.objects.filter(pk=running.pk).update(status=NetworkStatus.STOPPED)
    Operation.objects.filter(pk=op.pk).update(state="failed")
    res = client.post(url, {}, format="json")
    assert (res.status_code, res.json()["error"]["code"]) == (409, "network_not_running")


def test_the_portal_offers_the_upgrade_to_the_owners_admins_once_there_is_one(
        running, owner, version_b, client, monkeypatch):
    from tenants.tests.factories import MembershipFactory

    url = f"/networks/{running.pk}/"
    client.force_login(owner.user)
    panel = client.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert running.ledger_version in panel and "Upgrade ledger" not in panel
    b = version_b()
    panel = client.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert "Upgrade ledger" in panel and f"{b} is available" in panel
    developer = MembershipFactory(tenant=owner.tenant, role="developer")
    client.force_login(developer.user)
    assert "Upgrade ledger" not in client.get(url, HTTP_HX_REQUEST="true").content.decode()
    client.force_login(owner.user)
    queued = []
    monkeypatch.setattr("deploy.tasks.network_upgrade_task.delay", lambda *a: queued.append(a))
    res = client.post(f"/networks/{running.pk}/upgrade/", {})
    assert res.status_code == 302
    op = Operation.objects.get(kind="network.upgrade")
    assert op.params["to"] == b and op.actor_id == owner.user.pk


def test_the_reconciler_leaves_the_nodes_of_a_running_upgrade_alone(running, fake_driver,
                                                                   owner, version_b):
    version_b()
    op = network_upgrade(tenant=owner.tenant, actor=owner.user, network=running)
    first = running.nodes.order_by("index").first()
    fake_driver.stop_node(network_id=str(running.pk), node_id=str(first.pk))
    Operation.objects.filter(pk=op.pk).update(state="running")  # the workflow has begun
    assert reconcile.reconcile().get("nodes_restarted", 0) == 0
    Operation.objects.filter(pk=op.pk).update(state="queued")  # not yet: supervised as ever
    assert reconcile.reconcile().get("nodes_restarted", 0) == 1


def test_a_node_brought_back_on_the_old_version_meanwhile_is_switched_too(
        running, fake_driver, owner, version_b, chain_moves, monkeypatch):
    a, b = running.ledger_version, version_b()
    first = running.nodes.order_by("index").first()
    real_stop = fake_driver.stop_node
    missed: list[str] = []

    def stop_node(*, network_id, node_id):
        if node_id == str(first.pk) and not missed:
            missed.append(node_id)  # it stops, and a reconciler pass starts it again on A
            return
        real_stop(network_id=network_id, node_id=node_id)

    monkeypatch.setattr(fake_driver, "stop_node", stop_node)
    op = _upgrade(running, owner)
    assert op.state == "succeeded", (op.error_code, op.error_message)
    assert missed and _versions(fake_driver, running) == {b} != {a}


def test_validators_stopped_before_the_halt_catch_up_on_the_old_version_first(
        owner, fake_driver, cometbft, version_b, chain_moves, monkeypatch):
    """Four validators: the chain went on without the first one stopped. It is brought to
    the halt height on the old version, with one up-to-date peer (two of four running: the
    chain makes no block meanwhile), before anything switches, so no block below the halt
    is executed by the new code."""
    from deploy.workflows import upgrade

    monkeypatch.setattr("deploy.tasks.network_provision_task.delay", lambda *a: None)
    monkeypatch.setattr("deploy.tasks.network_upgrade_task.delay", lambda *a: None)
    type(owner.tenant).objects.filter(pk=owner.tenant_id).update(max_validators_per_network=4)
    running, create = services.network_create(
        tenant=owner.tenant, actor=owner.user, spec=NetworkSpec(name="four", validators=4))
    tasks.network_provision_task(str(running.pk), create.pk)
    running.refresh_from_db()
    a, b = running.ledger_version, version_b()
    first = running.nodes.order_by("index").first()
    real_live_height = upgrade.live_height
    monkeypatch.setattr(upgrade, "live_height",
                        lambda node: 3 if node.pk == first.pk else real_live_height(node))
    started = []
    real_apply = fake_driver.apply_node

    def apply(spec):
        started.append((spec.node_id, spec.ledger_version))
        return real_apply(spec)

    monkeypatch.setattr(fake_driver, "apply_node", apply)
    op = _upgrade(running, owner)
    assert op.state == "succeeded", (op.error_code, op.error_message)
    assert any(s["code"] == "upgrade_catching_up" for s in op.steps)
    # the lagging node and one peer ran the old version again before every node got B
    assert started[:2] == [(str(first.pk), a), (started[1][0], a)]
    assert len(started) == 6 and all(version == b for _node, version in started[2:])
