"""The ledger runtime store and the local driver's pinned versions, on real processes (a
stand-in node that prints the ``PYTHONPATH`` it was given) and real copies of ``ledger/``."""

from __future__ import annotations

import shutil
import sys
import time
import uuid
from pathlib import Path

import pytest

from deploy.drivers import DriverError, NodeSpec
from deploy.drivers.local import LocalDriver
from deploy.drivers.runtimes import RuntimeStore, current_source, current_version

STAND_IN = [sys.executable, "-c",
            "import os,time; print('PYTHONPATH=' + os.environ.get('PYTHONPATH', ''), "
            "flush=True); import ledger; print('LEDGER=' + ledger.__file__, flush=True); "
            "time.sleep(600)"]


@pytest.fixture
def move_to_b(tmp_path, monkeypatch):
    """Present a copy of ledger/ with one extra file as the control plane's current one."""
    def move() -> str:
        copy = tmp_path / "b" / "ledger"
        shutil.copytree(current_source(), copy,
                        ignore=shutil.ignore_patterns("__pycache__", "tests"))
        (copy / "UPGRADE_NOTE.txt").write_text("B\n")
        monkeypatch.setenv("BAAS_LEDGER_SOURCE", str(copy))
        return current_version()

    return move


@pytest.fixture
def driver(tmp_path):
    drv = LocalDriver(nodes_dir=tmp_path / "nodes", install_id="rt-test", command=STAND_IN,
                      stop_timeout=3)
    yield drv
    for net in (tmp_path / "nodes").glob("*"):
        if net.is_dir() and not net.name.startswith("."):
            drv.delete_network(network_id=net.name)


def _spec(drv: LocalDriver, version: str, network_id: str, node_id: str) -> NodeSpec:
    return NodeSpec(install_id="rt-test", tenant_id="t", network_id=network_id, node_id=node_id,
                    index=0, moniker="n0",
                    address=drv.plan_node(network_id=network_id, index=0),
                    home_files={"node.json": b"{}", "data/state": b"kept"},
                    ledger_version=version)


def _log(drv: LocalDriver, spec: NodeSpec, needle: str, start: int = 1) -> str:
    """The value the node printed after ``needle`` at its ``start``-th start."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        text = drv.logs(network_id=spec.network_id, node_id=spec.node_id)
        lines = [line for line in text.splitlines() if line.startswith(needle)]
        if len(lines) >= start:
            return lines[start - 1][len(needle):]
        time.sleep(0.05)
    raise AssertionError(f"no {needle} line of start {start} in the node's log")


def test_the_store_copies_the_current_ledger_once_with_its_generated_types(tmp_path):
    store = RuntimeStore(tmp_path / "rt")
    version = current_version()
    entry = store.ensure(version)
    assert entry == tmp_path / "rt" / version and store.versions() == [version]
    assert (entry / "ledger" / "proto" / "gen").is_dir()  # gitignored, made by make proto
    assert not list(entry.rglob("__pycache__")) and not (entry / "ledger" / "tests").exists()
    from ledger.source_hash import source_hash

    assert source_hash(entry / "ledger") == version
    marker = entry / "ledger" / "kept.txt"
    marker.write_text("x")
    assert store.ensure(version) == entry and marker.exists()  # never copied again


def test_a_version_neither_stored_nor_current_is_runtime_missing(tmp_path):
    store = RuntimeStore(tmp_path / "rt")
    with pytest.raises(DriverError) as err:
        store.ensure("0123456789abcdef")
    assert err.value.code == "runtime_missing" and "0123456789abcdef" in err.value.message
    with pytest.raises(DriverError) as err:
        store.ensure("../../etc")
    assert err.value.code == "invalid_spec"
    assert not (tmp_path / "rt" / "0123456789abcdef").exists()


def test_a_node_runs_its_pinned_copy_and_keeps_it_after_the_control_plane_moves(
        driver, move_to_b):
    a = current_version()
    spec = _spec(driver, a, str(uuid.uuid4()), str(uuid.uuid4()))
    state = driver.apply_node(spec)
    assert state.running and state.ledger_version == a
    entry_a = driver.runtimes.path(a)
    assert _log(driver, spec, "PYTHONPATH=") == str(entry_a)
    assert _log(driver, spec, "LEDGER=").startswith(str(entry_a / "ledger"))
    b = move_to_b()
    assert b != a
    # the control plane moved on; the node (and any restart of it) stays on A
    driver.stop_node(network_id=spec.network_id, node_id=spec.node_id)
    assert driver.start_node(network_id=spec.network_id, node_id=spec.node_id).ledger_version == a
    assert _log(driver, spec, "PYTHONPATH=", start=2) == str(entry_a)
    # a new node of version A still gets A, though A is no longer current
    other = _spec(driver, a, spec.network_id, str(uuid.uuid4()))
    other = NodeSpec(**{**other.__dict__, "index": 1,
                        "address": driver.plan_node(network_id=spec.network_id, index=1)})
    assert driver.apply_node(other).ledger_version == a
    # a running node is not switched under its feet
    with pytest.raises(DriverError) as err:
        driver.apply_node(NodeSpec(**{**spec.__dict__, "ledger_version": b}))
    assert err.value.code == "runtime_mismatch"
    # stopped, it moves to B with its home kept
    driver.stop_node(network_id=spec.network_id, node_id=spec.node_id)
    state = driver.apply_node(NodeSpec(**{**spec.__dict__, "ledger_version": b}))
    assert state.running and state.ledger_version == b
    assert _log(driver, spec, "PYTHONPATH=", start=3) == str(driver.runtimes.path(b))
    assert _log(driver, spec, "LEDGER=", start=3).startswith(str(driver.runtimes.path(b)))
    home = driver.nodes_dir / spec.network_id / spec.node_id / "home"
    assert (home / "data" / "state").read_bytes() == b"kept"
    assert driver.runtimes.versions() == sorted([a, b])


def test_a_version_nobody_runs_any_more_leaves_the_store(driver, move_to_b):
    a = current_version()
    spec = _spec(driver, a, str(uuid.uuid4()), str(uuid.uuid4()))
    driver.apply_node(spec)
    b = move_to_b()
    driver.ensure_runtime(b)
    assert driver.prune_runtimes() == []  # A: a node runs it; B: current
    driver.delete_network(network_id=spec.network_id)  # prunes
    assert driver.runtimes.versions() == [b]
    with pytest.raises(DriverError) as err:  # A is gone and not current: refused, named
        driver.apply_node(_spec(driver, a, str(uuid.uuid4()), str(uuid.uuid4())))
    assert err.value.code == "runtime_missing" and a in err.value.message
    nodes = [p for p in Path(driver.nodes_dir).glob("*/*")
             if p.is_dir() and not p.parent.name.startswith(".")]
    assert nodes == []  # nothing half-made
