"""The Docker driver against a real Docker engine.

Quick tests swap the node for a stand-in entrypoint (a Python that sleeps and stops on
SIGTERM) to test our own logic: labels, idempotency, home copy, restart policy, ownership on
delete, error codes. The slow tests run real validators from the node image and wait for
blocks through the published RPC port.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from conftest import require_service
from deploy.drivers import DriverError, NodeSpec, get_driver
from deploy.drivers.docker import DockerDriver, network_name, node_name
from deploy.drivers.runtimes import current_version

REPO = Path(__file__).resolve().parents[2]
STAND_IN = [
    "python3",
    "-c",
    "import signal, sys, time; "
    "signal.signal(signal.SIGTERM, lambda *a: sys.exit(0)); "
    "print('stand-in node up', flush=True); time.sleep(600)",
]

pytestmark = pytest.mark.docker


def _engine():
    try:
        import docker

        client = docker.DockerClient(base_url="unix:///var/run/docker.sock", timeout=10)
        client.ping()
        return client
    except Exception:  # any failure means: no usable engine here
        return None


@pytest.fixture(scope="module")
def engine():
    client = _engine()
    require_service("docker", client is not None, "no Docker engine at /var/run/docker.sock")
    return client


@pytest.fixture(scope="module")
def node_image(engine):
    """Build (or reuse, by content hash) the node image from the working tree."""
    done = subprocess.run(
        ["bash", str(REPO / "scripts/build-node-image.sh")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip().splitlines()[-1]


@pytest.fixture
def install_id() -> str:
    return f"test-{uuid.uuid4().hex[:8]}"


def _cleanup(engine, install_id: str) -> None:
    flt = {"label": [f"baas.install={install_id}"]}
    for c in engine.containers.list(all=True, filters=flt):
        c.remove(force=True, v=True)
    for v in engine.volumes.list(filters=flt):
        v.remove(force=True)
    for n in engine.networks.list(filters=flt):
        n.remove()


@pytest.fixture
def driver(engine, node_image, install_id):
    drv = DockerDriver(image=node_image, install_id=install_id, entrypoint=STAND_IN, stop_timeout=5)
    yield drv
    _cleanup(engine, install_id)


def spec_for(
    drv: DockerDriver, install_id: str, network_id: str | None = None, index: int = 0
) -> NodeSpec:
    network_id = network_id or str(uuid.uuid4())
    return NodeSpec(
        install_id=install_id,
        tenant_id="t1",
        network_id=network_id,
        node_id=str(uuid.uuid4()),
        index=index,
        moniker=f"node{index}",
        address=drv.plan_node(network_id=network_id, index=index),
        home_files={
            "node.json": b'{"moniker": "node0"}',
            "cometbft/config/node_key.json": b"secret",
        },
        cpu_limit=0.5,
        memory_mb=256,
    )


def wait_until(predicate, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return predicate()


def test_engine_down_is_driver_unavailable(tmp_path):
    drv = DockerDriver(base_url=f"unix://{tmp_path}/no-such-docker.sock", install_id="x")
    for call in (
        drv.check,
        lambda: drv.inspect_node(network_id="n", node_id="m"),
        lambda: drv.list_owned(install_id="x"),
    ):
        with pytest.raises(DriverError) as err:
            call()
        assert err.value.code == "driver_unavailable"


def test_engine_that_never_answers_is_driver_timeout(tmp_path):
    # A socket that accepts connections and never replies: a hung engine.
    path = tmp_path / "hung.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen()
    try:
        drv = DockerDriver(base_url=f"unix://{path}", install_id="x", timeout=1)
        with pytest.raises(DriverError) as err:
            drv.check()
        assert err.value.code == "driver_timeout"
    finally:
        server.close()


def test_missing_image_is_image_missing(engine, install_id):
    drv = DockerDriver(image="baas/no-such-image:0", install_id=install_id)
    with pytest.raises(DriverError) as err:
        drv.check()
    assert err.value.code == "image_missing"
    assert "build-node-image" in err.value.message
    spec = spec_for(drv, install_id)
    with pytest.raises(DriverError) as err:
        drv.apply_node(spec)
    assert err.value.code == "image_missing"
    assert drv.list_owned(install_id=install_id) == []  # nothing half-made


def test_image_built_from_another_ledger_is_image_stale(engine, node_image, install_id):
    """An image whose ledger/ differs from the control plane's would run validators that
    disagree on the app hash: refused before any container is made."""
    import io

    stale = "baas/node-stale-test:0"
    dockerfile = f"FROM {node_image}\nLABEL baas.ledger-hash=0123456789abcdef\n"
    engine.images.build(fileobj=io.BytesIO(dockerfile.encode()), tag=stale, rm=True)
    try:
        drv = DockerDriver(image=stale, install_id=install_id)
        drv.check()  # the engine and an image are here; which version is another question
        with pytest.raises(DriverError) as err:
            drv.ensure_runtime(current_version())
        assert err.value.code == "image_stale"
        assert "0123456789abcdef" in err.value.message
        assert "build-node-image" in err.value.message
        with pytest.raises(DriverError) as err:
            drv.apply_node(spec_for(drv, install_id))
        assert err.value.code == "image_stale"
        assert drv.list_owned(install_id=install_id) == []  # nothing half-made
        # the fresh one passes
        DockerDriver(image=node_image, install_id=install_id).ensure_runtime(current_version())
    finally:
        engine.images.remove(stale, force=True)


def test_a_network_keeps_its_version_image_and_moves_with_its_volume(driver, engine,
                                                                     install_id):
    """Each node runs the image of its network's ledger version, found by the version's
    tag after the configured image moved on; a stopped node moves to another version in a
    new container over the same volume; a running one is never switched."""
    import io

    a, b = current_version(), "fedcba9876543210"
    tag_b = driver.version_tag(b)
    dockerfile = f"FROM {driver.image}\nLABEL baas.ledger-hash={b}\n"
    engine.images.build(fileobj=io.BytesIO(dockerfile.encode()), tag=tag_b, rm=True)
    try:
        runtime = driver.ensure_runtime(b)
        assert runtime.ref == engine.images.get(tag_b).id
        spec = spec_for(driver, install_id)
        spec = NodeSpec(**{**spec.__dict__, "ledger_version": a})
        ids = {"network_id": spec.network_id, "node_id": spec.node_id}
        assert driver.apply_node(spec).ledger_version == a
        c = engine.containers.get(node_name(spec.node_id))
        c.exec_run(["sh", "-c", "echo chain-data > /node/state"])
        moved = NodeSpec(**{**spec.__dict__, "ledger_version": b})
        with pytest.raises(DriverError) as err:
            driver.apply_node(moved)
        assert err.value.code == "runtime_mismatch"
        driver.stop_node(**ids)
        state = driver.apply_node(moved)
        assert state.running and state.ledger_version == b
        c = engine.containers.get(node_name(spec.node_id))
        assert c.image.id == runtime.ref
        assert c.exec_run(["cat", "/node/state"]).output == b"chain-data\n"
        # the configured image knows nothing of a version nobody built
        with pytest.raises(DriverError) as err:
            driver.ensure_runtime("0000000000000000")
        assert err.value.code == "image_stale" and "0000000000000000" in err.value.message
    finally:
        _cleanup(engine, install_id)
        engine.images.remove(tag_b, force=True)


def test_registry_returns_docker_driver():
    assert isinstance(get_driver("docker"), DockerDriver)


def test_apply_finishes_a_container_created_by_a_killed_worker(driver, engine, install_id):
    """The worker died between creating the container and copying its home: the next
    apply copies the home into the existing container and starts it (no second one)."""
    spec = spec_for(driver, install_id)
    driver.prepare_network(install_id=install_id, tenant_id="t1", network_id=spec.network_id)
    driver._create(spec, node_name(spec.node_id))  # noqa: SLF001 -- the interrupted step
    state = driver.apply_node(spec)
    assert state.running
    [c] = engine.containers.list(all=True, filters={"label": f"baas.node={spec.node_id}"})
    assert c.exec_run(["cat", "/node/node.json"]).output == b'{"moniker": "node0"}'


def test_apply_creates_labelled_limited_node_once(driver, engine, install_id):
    spec = spec_for(driver, install_id)
    first = driver.apply_node(spec)
    second = driver.apply_node(spec)
    assert first.running and second.running
    assert first.rpc_url and first.rpc_url.startswith("http://127.0.0.1:")

    containers = engine.containers.list(all=True, filters={"label": f"baas.node={spec.node_id}"})
    assert len(containers) == 1
    c = containers[0]
    assert c.name == node_name(spec.node_id)
    ownership = {
        k: c.labels.get(k) for k in ("baas.install", "baas.tenant", "baas.network", "baas.node")
    }
    assert ownership == {
        "baas.install": install_id,
        "baas.tenant": "t1",
        "baas.network": spec.network_id,
        "baas.node": spec.node_id,
    }
    host = c.attrs["HostConfig"]
    assert host["NanoCpus"] == 500_000_000 and host["Memory"] == 256 * 1024 * 1024
    assert host["RestartPolicy"]["Name"] == "unless-stopped"
    net = engine.networks.get(network_name(spec.network_id))
    assert net.attrs["Labels"]["baas.install"] == install_id
    assert "node0" in c.attrs["NetworkSettings"]["Networks"][net.name]["Aliases"]
    volume = engine.volumes.get(node_name(spec.node_id))
    assert volume.attrs["Labels"]["baas.node"] == spec.node_id

    # Home files are in the volume, owned by the node user, keys not world-readable.
    out = c.exec_run(["stat", "-c", "%u %a", "/node/cometbft/config/node_key.json"]).output
    assert out.decode().split() == ["10001", "600"]
    assert c.exec_run(["cat", "/node/node.json"]).output == b'{"moniker": "node0"}'
    assert wait_until(
        lambda: "stand-in node up"
        in driver.logs(network_id=spec.network_id, node_id=spec.node_id, tail=10)
    )


def test_recreated_container_keeps_the_existing_home(driver, engine, install_id):
    spec = spec_for(driver, install_id)
    driver.apply_node(spec)
    c = engine.containers.get(node_name(spec.node_id))
    c.exec_run(["sh", "-c", "echo changed-by-node > /node/cometbft/config/node_key.json"])
    c.remove(force=True)  # the container is lost, its volume (chain data, keys) is not
    assert driver.apply_node(spec).running
    c = engine.containers.get(node_name(spec.node_id))
    assert c.exec_run(["cat", "/node/cometbft/config/node_key.json"]).output == b"changed-by-node\n"


def test_stop_start_crash_and_kill(driver, engine, install_id):
    spec = spec_for(driver, install_id)
    ids = {"network_id": spec.network_id, "node_id": spec.node_id}
    driver.apply_node(spec)
    # Its SIGTERM handler is installed once it has logged (before that it dies of the signal).
    assert wait_until(lambda: "stand-in node up" in driver.logs(**ids, tail=5))
    driver.stop_node(**ids)
    stopped = driver.inspect_node(**ids)
    assert stopped.exists and not stopped.running and "exit code 0" in stopped.detail
    assert driver.start_node(**ids).running

    # A crash of the node process: the restart policy brings it back and counts it.
    pid = engine.containers.get(node_name(spec.node_id)).attrs["State"]["Pid"]
    os.kill(pid, signal.SIGKILL)
    assert wait_until(lambda: driver.inspect_node(**ids).restart_count >= 1)
    assert wait_until(lambda: driver.inspect_node(**ids).running)

    # Killed from outside and left down: inspect reports it with the exit code.
    engine.containers.get(node_name(spec.node_id)).kill()
    assert wait_until(lambda: not driver.inspect_node(**ids).running)
    assert "exit code 137" in driver.inspect_node(**ids).detail


def test_unknown_node_errors_and_missing_state(driver):
    ids = {"network_id": str(uuid.uuid4()), "node_id": str(uuid.uuid4())}
    state = driver.inspect_node(**ids)
    assert not state.exists and not state.running and state.rpc_url is None
    for call in (driver.start_node, driver.logs):
        with pytest.raises(DriverError) as err:
            call(**ids)
        assert err.value.code == "node_not_found"
    driver.stop_node(**ids)  # nothing to stop: no error
    driver.delete_node(**ids)


def test_delete_removes_ours_and_only_ours(driver, engine, install_id):
    net = str(uuid.uuid4())
    specs = [spec_for(driver, install_id, net, i) for i in range(2)]
    for spec in specs:
        driver.apply_node(spec)
    # A container of another install labelled with the same network id must survive.
    stranger = engine.containers.create(
        driver.image,
        entrypoint=STAND_IN,
        name=f"stranger-{uuid.uuid4().hex[:8]}",
        labels={"baas.install": "another-install", "baas.network": net},
    )
    try:
        kinds = sorted(r.kind for r in driver.list_owned(install_id=install_id))
        assert kinds == ["container", "container", "network", "volume", "volume"]

        driver.delete_node(network_id=net, node_id=specs[0].node_id)
        driver.delete_node(network_id=net, node_id=specs[0].node_id)  # idempotent
        assert not driver.inspect_node(network_id=net, node_id=specs[0].node_id).exists
        driver.delete_network(network_id=net)
        driver.delete_network(network_id=net)  # idempotent
        assert driver.list_owned(install_id=install_id) == []
        flt = {"label": [f"baas.install={install_id}"]}
        assert engine.containers.list(all=True, filters=flt) == []
        assert engine.volumes.list(filters=flt) == []
        assert engine.networks.list(filters=flt) == []
        stranger.reload()
        assert stranger.status == "created"
    finally:
        stranger.remove(force=True, v=True)


def test_foreign_container_with_our_name_is_not_adopted(driver, engine, install_id):
    spec = spec_for(driver, install_id)
    squatter = engine.containers.create(
        driver.image, entrypoint=STAND_IN, name=node_name(spec.node_id)
    )
    try:
        with pytest.raises(DriverError) as err:
            driver.apply_node(spec)
        assert err.value.code == "name_conflict"
        assert not driver.inspect_node(network_id=spec.network_id, node_id=spec.node_id).exists
        driver.delete_node(network_id=spec.network_id, node_id=spec.node_id)
        squatter.reload()  # still there: delete only removes what carries our labels
    finally:
        squatter.remove(force=True, v=True)


@pytest.mark.parametrize("limits", [{"cpu_limit": 0}, {"memory_mb": 8}])
def test_impossible_limits_are_refused(driver, install_id, limits):
    spec = spec_for(driver, install_id)
    with pytest.raises(DriverError) as err:
        driver.apply_node(NodeSpec(**{**spec.__dict__, **limits}))
    assert err.value.code == "invalid_spec"
    assert driver.list_owned(install_id=install_id) == []


def test_disk_used_is_the_engines_measure_of_this_networks_volumes(driver, engine,
                                                                   install_id):
    """The node volume holds the home the driver copied in: the engine's size of it is at
    least those bytes; another network (nothing made) has no figure."""
    spec = spec_for(driver, install_id)
    driver.apply_node(spec)
    usage = driver.disk_usage(network_id=spec.network_id)
    assert usage is not None and usage.kind == "used"
    assert usage.bytes >= sum(len(c) for c in spec.home_files.values())
    assert driver.disk_usage(network_id=str(uuid.uuid4())) is None


def test_a_node_planned_with_a_metrics_port_publishes_it_on_loopback(driver, install_id):
    spec = spec_for(driver, install_id)
    assert spec.address.metrics_port == 26660
    state = driver.apply_node(spec)
    assert state.running and state.metrics_url
    assert state.metrics_url.startswith("http://127.0.0.1:")
    assert state.metrics_url != state.rpc_url


def test_ports_are_planned_per_network_by_name(driver):
    addresses = driver.plan_network(network_id="n1", validators=4)
    assert [a.host for a in addresses] == ["node0", "node1", "node2", "node3"]
    assert len({(a.host, a.rpc_port) for a in addresses}) == 4
    with pytest.raises(DriverError) as err:
        driver.plan_network(network_id="n1", validators=0)
    assert err.value.code == "invalid_spec"


# --- real validators -------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.cometbft
@pytest.mark.parametrize("validators", [1, 4])
def test_real_network_on_docker(engine, node_image, install_id, validators):
    from deploy.drivers.testing import (
        height,
        log_tail,
        make_specs,
        peer_count,
        wait_for_height,
    )

    require_service("cometbft", shutil.which("cometbft") is not None, "binary not on PATH")
    drv = DockerDriver(image=node_image, install_id=install_id, stop_timeout=10)
    try:
        drv.check()
        specs = make_specs(drv, validators=validators, install_id=install_id)
        net = specs[0].network_id
        drv.prepare_network(install_id=install_id, tenant_id="t1", network_id=net)
        states = [drv.apply_node(spec) for spec in specs]
        assert all(s.running for s in states)
        assert [drv.apply_node(s).detail for s in specs] == [s.detail for s in states]
        for state in states:
            wait_for_height(
                state.rpc_url, 2, timeout=120, explain=log_tail(drv, net, state.node_id)
            )
        # Every validator is connected to every other one over the network's bridge.
        for state in states:
            assert wait_until(lambda s=state: peer_count(s.rpc_url) == validators - 1)
        # CometBFT's own metrics through the published loopback port, parsed.
        from prometheus_client.parser import text_string_to_metric_families

        from deploy import rpc

        for state in states:
            assert state.metrics_url and state.metrics_url.startswith("http://127.0.0.1:")
            text = rpc.get_capped(f"{state.metrics_url}/metrics", timeout=5,
                                  limit=4 * 1024 * 1024).decode()
            families = {f.name: f for f in text_string_to_metric_families(text)}
            assert families["cometbft_consensus_height"].samples[0].value > 0
        usage = drv.disk_usage(network_id=net)
        assert usage is not None and usage.kind == "used" and usage.bytes > 0
        assert drv.logs(network_id=net, node_id=specs[0].node_id, tail=50).strip()

        victim = specs[-1]
        ids = {"network_id": net, "node_id": victim.node_id}
        drv.stop_node(**ids)
        assert not drv.inspect_node(**ids).running
        restarted = drv.start_node(**ids)  # the published port may change: use the new URL
        assert restarted.running
        wait_for_height(
            restarted.rpc_url,
            height(states[0].rpc_url) + 1,
            timeout=120,
            explain=log_tail(drv, net, victim.node_id),
        )

        # kill -9 the node inside its container: Docker restarts it, inspect counts it.
        os.kill(
            engine.containers.get(node_name(victim.node_id)).attrs["State"]["Pid"], signal.SIGKILL
        )
        assert wait_until(lambda: drv.inspect_node(**ids).restart_count >= 1, timeout=60)
        assert wait_until(lambda: drv.inspect_node(**ids).running, timeout=60)
        back = drv.inspect_node(**ids)
        wait_for_height(
            back.rpc_url,
            height(states[0].rpc_url) + 1,
            timeout=120,
            explain=log_tail(drv, net, victim.node_id),
        )

        drv.delete_network(network_id=net)
        assert drv.list_owned(install_id=install_id) == []
        flt = {"label": [f"baas.install={install_id}"]}
        assert engine.containers.list(all=True, filters=flt) == []
        assert engine.volumes.list(filters=flt) == []
        assert engine.networks.list(filters=flt) == []
    finally:
        _cleanup(engine, install_id)
