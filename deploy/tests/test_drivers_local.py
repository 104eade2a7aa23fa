"""The local driver against real processes.

The first group uses a stand-in node process (a sleeping Python that logs) to test our own
logic quickly: port planning, idempotency, reattach, stop/kill, delete. The second group,
marked slow, runs real validators (``python -m ledger node`` + CometBFT) and waits for blocks.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from conftest import require_service
from deploy.drivers import DriverError, NodeAddress, NodeSpec, _procs, get_driver
from deploy.drivers.local import LocalDriver

# Prints a line, then sleeps; SIGTERM ends it (default action). Extra args are ignored.
STAND_IN = [
    sys.executable,
    "-c",
    "import sys,time; print('stand-in node up', flush=True); time.sleep(600)",
]


def wait_until(predicate, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


@pytest.fixture
def install_id() -> str:
    return f"test-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def driver(tmp_path, install_id):
    drv = LocalDriver(
        nodes_dir=tmp_path / "nodes", install_id=install_id, command=STAND_IN, stop_timeout=3
    )
    yield drv
    for net in (tmp_path / "nodes").glob("*"):
        if net.is_dir() and not net.name.startswith("."):
            drv.delete_network(network_id=net.name)


def spec_for(
    drv: LocalDriver, install_id: str, network_id: str | None = None, index: int = 0
) -> NodeSpec:
    network_id = network_id or str(uuid.uuid4())
    address = drv.plan_node(network_id=network_id, index=index)
    return NodeSpec(
        install_id=install_id,
        tenant_id="t1",
        network_id=network_id,
        node_id=str(uuid.uuid4()),
        index=index,
        moniker=f"node{index}",
        address=address,
        home_files={"node.json": b"{}", "cometbft/config/node_key.json": b"k"},
    )


def test_registry_returns_local_driver(tmp_path):
    drv = get_driver("local", nodes_dir=tmp_path)
    assert isinstance(drv, LocalDriver) and drv.name == "local"


def test_plans_are_distinct_stable_and_shared_across_networks(driver):
    a = driver.plan_network(network_id="net-a", validators=4)
    b = driver.plan_network(network_id="net-b", validators=4)
    ports = [p for addr in a + b
             for p in (addr.p2p_port, addr.rpc_port, addr.abci_port, addr.metrics_port)]
    assert len(ports) == len(set(ports)) == 32
    assert all(addr.host == "127.0.0.1" for addr in a + b)
    # Planning again (a retried task) gives the same addresses; a new driver instance sees
    # the same registry on disk.
    assert driver.plan_network(network_id="net-a", validators=4) == a
    again = LocalDriver(nodes_dir=driver.nodes_dir, install_id=driver.install_id)
    assert again.plan_network(network_id="net-b", validators=4) == b
    extra = driver.plan_node(network_id="net-a", index=4)
    assert not {extra.p2p_port, extra.rpc_port, extra.abci_port, extra.metrics_port} \
        & set(ports)


def test_a_plan_from_before_metrics_keeps_its_ports_reserved(driver):
    """A network planned with three ports a node (no metrics port) plans the same again,
    with no metrics port, and new plans never take its ports."""
    old = driver.plan_network(network_id="net-old", validators=2)
    plan_file = driver.nodes_dir / "net-old" / "plan.json"
    plan = json.loads(plan_file.read_text())
    for entry in plan["nodes"].values():
        entry.pop("metrics_port")
    plan_file.write_text(json.dumps(plan))
    again = driver.plan_network(network_id="net-old", validators=2)
    assert [a.metrics_port for a in again] == [0, 0]
    assert [a.rpc_port for a in again] == [a.rpc_port for a in old]
    held = {p for a in again for p in (a.p2p_port, a.rpc_port, a.abci_port)}
    new = driver.plan_network(network_id="net-new", validators=4)
    assert not held & {p for a in new
                       for p in (a.p2p_port, a.rpc_port, a.abci_port, a.metrics_port)}


def test_concurrent_plans_never_share_a_port(tmp_path, install_id):
    # Separate driver objects, as in separate Celery workers, planning at the same time.
    def plan(n: int) -> list[NodeAddress]:
        drv = LocalDriver(nodes_dir=tmp_path, install_id=install_id)
        return drv.plan_network(network_id=f"net-{n}", validators=4)

    with ThreadPoolExecutor(max_workers=8) as pool:
        plans = list(pool.map(plan, range(8)))
    ports = [p for plan_ in plans for a in plan_
             for p in (a.p2p_port, a.rpc_port, a.abci_port, a.metrics_port)]
    assert len(ports) == len(set(ports)) == 8 * 4 * 4


def test_plan_skips_ports_that_are_taken_and_reports_exhaustion(tmp_path, install_id):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        # A range of exactly five ports, one of them in use: the plan gets the other four.
        low = taken - 1
        drv = LocalDriver(nodes_dir=tmp_path, install_id=install_id, port_range=(low, low + 5))
        free = [p for p in range(low, low + 5) if p != taken]
        if not all(_is_free(p) for p in free):
            pytest.skip("neighbouring ports are busy on this machine")
        (addr,) = drv.plan_network(network_id="n1", validators=1)
        assert {addr.p2p_port, addr.rpc_port, addr.abci_port, addr.metrics_port} == set(free)
        with pytest.raises(DriverError) as err:
            drv.plan_network(network_id="n2", validators=1)
        assert err.value.code == "ports_exhausted"


def _is_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is not "taken"
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def test_apply_is_idempotent_and_reattaches(driver, install_id):
    spec = spec_for(driver, install_id)
    first = driver.apply_node(spec)
    assert first.exists and first.running
    assert first.rpc_url == f"http://127.0.0.1:{spec.address.rpc_port}"
    second = driver.apply_node(spec)
    assert second.detail == first.detail  # same pid: one process, not two
    processes = [r for r in driver.list_owned(install_id=install_id) if r.kind == "process"]
    assert len(processes) == 1
    home = driver.nodes_dir / spec.network_id / spec.node_id / "home"
    assert (home / "cometbft/config/node_key.json").read_bytes() == b"k"
    assert (home / "cometbft/config/node_key.json").stat().st_mode & 0o077 == 0

    # A control plane restart: a brand-new driver object finds the same running process.
    fresh = LocalDriver(nodes_dir=driver.nodes_dir, install_id=install_id)
    assert fresh.inspect_node(network_id=spec.network_id, node_id=spec.node_id) == first
    assert wait_until(
        lambda: "stand-in node up" in fresh.logs(network_id=spec.network_id, node_id=spec.node_id)
    )


def test_home_files_are_written_only_on_first_create(driver, install_id):
    spec = spec_for(driver, install_id)
    driver.apply_node(spec)
    key = driver.nodes_dir / spec.network_id / spec.node_id / "home/cometbft/config/node_key.json"
    key.write_bytes(b"changed by the node")
    driver.stop_node(network_id=spec.network_id, node_id=spec.node_id)
    changed = NodeSpec(**{**spec.__dict__, "home_files": {"cometbft/config/node_key.json": b"x"}})
    assert driver.apply_node(changed).running
    assert key.read_bytes() == b"changed by the node"


def test_stop_start_kill_and_restart_count(driver, install_id):
    spec = spec_for(driver, install_id)
    ids = {"network_id": spec.network_id, "node_id": spec.node_id}
    pid = int(driver.apply_node(spec).detail.split()[-1])
    driver.stop_node(**ids)
    stopped = driver.inspect_node(**ids)
    assert stopped.exists and not stopped.running
    assert not _procs.is_alive(pid)

    started = driver.start_node(**ids)
    assert started.running and started.restart_count == 1
    new_pid = int(started.detail.split()[-1])
    os.kill(new_pid, signal.SIGKILL)  # a crash
    assert wait_until(lambda: not driver.inspect_node(**ids).running)
    crashed = driver.inspect_node(**ids)
    assert crashed.exists and "exited with code -9" in crashed.detail
    assert driver.start_node(**ids).running


def test_untracked_node_process_is_adopted_not_duplicated(driver, install_id):
    # The control plane died after spawning the node but before writing its pid file.
    spec = spec_for(driver, install_id)
    ids = {"network_id": spec.network_id, "node_id": spec.node_id}
    driver.apply_node(spec)
    driver.stop_node(**ids)
    node_dir = driver.nodes_dir / spec.network_id / spec.node_id
    (node_dir / "node.pid").unlink()
    home = str((node_dir / "home").resolve())
    orphan = subprocess.Popen([*STAND_IN, "--home", home], start_new_session=True)
    try:
        assert wait_until(lambda: _procs.cmdline(orphan.pid)[-1:] == [home])
        state = driver.apply_node(spec)
        assert state.running and state.detail == f"pid {orphan.pid}"
        processes = [r for r in driver.list_owned(install_id=install_id) if r.kind == "process"]
        assert [r.name for r in processes] == [str(orphan.pid)]
        driver.stop_node(**ids)
        assert orphan.wait(timeout=10) is not None
    finally:
        orphan.kill()
        orphan.wait()


def test_node_process_whose_dir_vanished_is_listed_and_deleted(driver, install_id):
    spec = spec_for(driver, install_id)
    pid = int(driver.apply_node(spec).detail.split()[-1])
    shutil.rmtree(driver.nodes_dir)  # e.g. a test's tmp dir cleaned under running nodes
    owned = driver.list_owned(install_id=install_id)
    assert ("process", str(pid), spec.network_id, spec.node_id) in [
        (r.kind, r.name, r.network_id, r.node_id) for r in owned
    ]
    driver.delete_network(network_id=spec.network_id)
    assert not _procs.is_alive(pid)
    assert driver.list_owned(install_id=install_id) == []


def test_pid_file_of_a_foreign_process_is_not_trusted(driver, install_id):
    spec = spec_for(driver, install_id)
    ids = {"network_id": spec.network_id, "node_id": spec.node_id}
    driver.apply_node(spec)
    driver.stop_node(**ids)
    pid_file = driver.nodes_dir / spec.network_id / spec.node_id / "node.pid"
    # The recorded pid now belongs to an unrelated live process (this test run).
    pid_file.write_text(f'{{"pid": {os.getpid()}, "start_time": null, "args": []}}')
    assert not driver.inspect_node(**ids).running


@pytest.mark.parametrize("verb", ["stop", "delete", "delete_network", "list_owned"])
def test_a_reused_pid_is_never_signalled_or_claimed(driver, install_id, verb):
    """A stopped node's recorded pid, reused by another session (another network's node,
    say), must survive stop and delete of the old node and not be listed as ours."""
    spec = spec_for(driver, install_id)
    ids = {"network_id": spec.network_id, "node_id": spec.node_id}
    driver.apply_node(spec)
    driver.stop_node(**ids)
    stranger = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        pid_file = driver.nodes_dir / spec.network_id / spec.node_id / "node.pid"
        recorded = json.loads(pid_file.read_text())
        pid_file.write_text(json.dumps({**recorded, "pid": stranger.pid}))
        if verb == "list_owned":
            owned = driver.list_owned(install_id=install_id)
            assert str(stranger.pid) not in {r.name for r in owned if r.kind == "process"}
        elif verb == "delete_network":
            driver.delete_network(network_id=spec.network_id)
        else:
            getattr(driver, f"{verb}_node")(**ids)
        assert stranger.poll() is None, "the stranger was killed"
    finally:
        stranger.kill()
        stranger.wait()


def test_port_taken_at_start_is_a_clear_error(driver, install_id):
    spec = spec_for(driver, install_id)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", spec.address.rpc_port))
        squatter.listen()
        with pytest.raises(DriverError) as err:
            driver.apply_node(spec)
    assert err.value.code == "port_in_use"
    assert str(spec.address.rpc_port) in err.value.message
    state = driver.inspect_node(network_id=spec.network_id, node_id=spec.node_id)
    assert state.exists and not state.running
    assert driver.start_node(network_id=spec.network_id, node_id=spec.node_id).running


@pytest.mark.parametrize("bad", [{"../escape": b""}, {"/etc/passwd": b""}, {}])
def test_bad_home_paths_are_refused(driver, install_id, bad):
    spec = spec_for(driver, install_id)
    with pytest.raises(DriverError) as err:
        driver.apply_node(NodeSpec(**{**spec.__dict__, "home_files": bad}))
    assert err.value.code == "invalid_spec"
    assert not (driver.nodes_dir / spec.network_id / spec.node_id).exists()


def test_bad_ids_are_refused(driver):
    with pytest.raises(DriverError) as err:
        driver.inspect_node(network_id="../x", node_id="y")
    assert err.value.code == "invalid_spec"


def test_delete_node_and_network_leave_nothing_of_this_install(driver, install_id, tmp_path):
    other = LocalDriver(nodes_dir=driver.nodes_dir, install_id="someone-else", command=STAND_IN)
    theirs = spec_for(other, "someone-else")
    other.apply_node(theirs)

    net = str(uuid.uuid4())
    specs = [spec_for(driver, install_id, net, i) for i in range(3)]
    driver.prepare_network(install_id=install_id, tenant_id="t1", network_id=net)
    for spec in specs:
        driver.apply_node(spec)
    owned = driver.list_owned(install_id=install_id)
    assert {r.kind for r in owned} == {"dir", "process"}
    assert all(r.network_id == net for r in owned)
    pids = [int(r.name) for r in owned if r.kind == "process"]

    driver.delete_node(network_id=net, node_id=specs[0].node_id)
    driver.delete_node(network_id=net, node_id=specs[0].node_id)  # idempotent
    assert not driver.inspect_node(network_id=net, node_id=specs[0].node_id).exists
    driver.delete_network(network_id=net)
    driver.delete_network(network_id=net)  # idempotent
    assert driver.list_owned(install_id=install_id) == []
    assert not any(_procs.is_alive(p) for p in pids)
    assert not (driver.nodes_dir / net).exists()
    # The other install's node is untouched.
    assert other.inspect_node(network_id=theirs.network_id, node_id=theirs.node_id).running
    other.delete_network(network_id=theirs.network_id)


def test_logs_of_unknown_node_and_start_of_unknown_node(driver):
    for call in (driver.logs, driver.start_node):
        with pytest.raises(DriverError) as err:
            call(network_id="n", node_id="missing")
        assert err.value.code == "node_not_found"


def test_check_reports_missing_cometbft(driver, monkeypatch):
    monkeypatch.setenv("COMETBFT_BIN", "/nonexistent/cometbft")
    with pytest.raises(DriverError) as err:
        driver.check()
    assert err.value.code == "driver_unavailable"


# --- real validators -------------------------------------------------------------------------


def cometbft_metrics(url: str) -> dict:
    """CometBFT's metrics at ``url``, parsed with Prometheus' own parser."""
    from prometheus_client.parser import text_string_to_metric_families

    from deploy import rpc

    text = rpc.get_capped(f"{url}/metrics", timeout=5, limit=4 * 1024 * 1024).decode()
    return {f.name: f for f in text_string_to_metric_families(text)}


@pytest.fixture
def real_driver(tmp_path, install_id):
    require_service("cometbft", shutil.which("cometbft") is not None, "binary not on PATH")
    drv = LocalDriver(nodes_dir=tmp_path / "nodes", install_id=install_id, stop_timeout=10)
    drv.check()
    yield drv
    for net in (tmp_path / "nodes").glob("*"):
        if net.is_dir() and not net.name.startswith("."):
            drv.delete_network(network_id=net.name)


@pytest.mark.slow
@pytest.mark.cometbft
@pytest.mark.parametrize("validators", [1, 4])
def test_real_network_makes_blocks_survives_faults_and_deletes_clean(
    real_driver, install_id, validators
):
    from deploy.drivers.testing import (
        height,
        log_tail,
        make_specs,
        peer_count,
        wait_for_height,
    )

    drv = real_driver
    specs = make_specs(drv, validators=validators, install_id=install_id)
    net = specs[0].network_id
    drv.prepare_network(install_id=install_id, tenant_id="t1", network_id=net)
    states = [drv.apply_node(spec) for spec in specs]
    assert all(s.running for s in states)
    assert [drv.apply_node(s).detail for s in specs] == [s.detail for s in states]  # no dupes
    for state in states:
        wait_for_height(state.rpc_url, 2, timeout=90, explain=log_tail(drv, net, state.node_id))
    # Every validator is connected to every other one.
    for state in states:
        assert wait_until(lambda s=state: peer_count(s.rpc_url) == validators - 1)
    assert "cometbft" in drv.logs(network_id=net, node_id=specs[0].node_id, tail=50).lower()

    # CometBFT's own Prometheus metrics, on each node's planned loopback port.
    for state, spec in zip(states, specs, strict=True):
        assert state.metrics_url == f"http://127.0.0.1:{spec.address.metrics_port}"
        families = cometbft_metrics(state.metrics_url)
        assert families["cometbft_consensus_height"].samples[0].value > 0
        if validators > 1:  # a lone validator has no peer gauge until it ever had a peer
            assert families["cometbft_p2p_peers"].samples[0].value == validators - 1
    # What the nodes' homes and chain data take, measured.
    usage = drv.disk_usage(network_id=net)
    assert usage is not None and usage.kind == "used"
    assert usage.bytes > sum(len(c) for c in specs[0].home_files.values())

    # Stop and start a node: it comes back and catches up with the chain.
    victim = specs[-1]
    ids = {"network_id": net, "node_id": victim.node_id}
    drv.stop_node(**ids)
    assert not drv.inspect_node(**ids).running
    assert _is_free(victim.address.rpc_port)  # CometBFT child stopped too
    assert _is_free(victim.address.metrics_port)  # and its metrics listener
    restarted = drv.start_node(**ids)
    assert restarted.running and restarted.restart_count == 1
    wait_for_height(
        restarted.rpc_url,
        height(states[0].rpc_url) + 1,
        timeout=90,
        explain=log_tail(drv, net, victim.node_id),
    )

    # Kill -9 the node process: inspect reports it, its leftover CometBFT is cleaned on start.
    os.kill(int(drv.inspect_node(**ids).detail.split()[-1]), signal.SIGKILL)
    assert wait_until(lambda: not drv.inspect_node(**ids).running)
    assert drv.start_node(**ids).running
    wait_for_height(
        restarted.rpc_url,
        height(states[0].rpc_url) + 1,
        timeout=90,
        explain=log_tail(drv, net, victim.node_id),
    )

    drv.delete_network(network_id=net)
    assert drv.list_owned(install_id=install_id) == []
    assert not Path(drv.nodes_dir / net).exists()
    assert all(_is_free(s.address.rpc_port) and _is_free(s.address.p2p_port) for s in specs)


def test_address_type_is_the_contract_one(driver):
    (addr,) = driver.plan_network(network_id="n", validators=1)
    assert isinstance(addr, NodeAddress)
