"""Backup, restore and export of one real Docker network (CometBFT in the node image).

The Docker counterpart of ``test_network.py`` (whose helpers it reuses), kept to one
network and one restored network: a 1-validator network made through the platform on the
Docker driver takes a transaction; a backup and an export are made while it runs (the
driver stops the container, reads its volume through the engine, starts it again); the
export's archive holds the node's chain data, app state and keys and the image's
``ledger/``, and runs alone on this host (``test_network._standalone``: its own cometbft,
no platform code importable), committing past the export's height and taking a
transaction; once the source network is deleted, the backup restores into a new Docker
network (a new container and volume, the home written through ``put_archive``) that
continues from the backup's height with the same app hashes, keeps the transaction's value
and commits new blocks. Every container, volume and bridge of the test's install id is
removed at the end.

Marked ``docker``: skipped without an engine on a developer machine, failed under
``BAAS_REQUIRE_SERVICES=1``. Timings are printed.
"""

from __future__ import annotations

import json
import shutil
import tarfile
import time
import uuid

import pytest

from archives.models import Archive
from archives.tests.test_network import PASSPHRASE, _op, _standalone, _wait_height
from baas.testing import api_client_for
from conftest import require_service
from deploy import rpc
from deploy.drivers.docker import L_NETWORK, RPC_PORT, DockerDriver
from deploy.models import Network
from deploy.tests.factories import MembershipFactory
from deploy.tests.test_drivers_docker import _cleanup, engine, node_image  # noqa: F401

pytestmark = [pytest.mark.django_db, pytest.mark.slow, pytest.mark.cometbft,
              pytest.mark.docker]


@pytest.fixture
def platform(engine, node_image, tmp_path, settings, monkeypatch):  # noqa: F811
    # The restore writes each node's config.toml from a host `cometbft init`.
    require_service("cometbft", shutil.which("cometbft") is not None, "binary not on PATH")
    from deploy import crypto

    install_id = f"test-{uuid.uuid4().hex[:8]}"
    settings.BAAS_INSTALL_ID = install_id
    settings.BAAS_NODE_KEYS_KEY_FILE = str(tmp_path / "kek")
    settings.BAAS_BACKUP_DIR = str(tmp_path / "backups")
    settings.DEPLOY_FIRST_BLOCK_TIMEOUT_S = 120
    crypto.reset_cache()
    driver = DockerDriver(image=node_image, install_id=install_id, stop_timeout=10)
    monkeypatch.setattr("deploy.drivers.registry.get_driver", lambda name, **kw: driver)
    queued: list[tuple] = []

    def later(task, *args, **kwargs):
        queued.append((task, args, kwargs))

    monkeypatch.setattr("archives.services.enqueue_after_commit", later)
    monkeypatch.setattr("deploy.services.enqueue_after_commit", later)

    def run_queued():
        while queued:
            task, args, kwargs = queued.pop(0)
            task(*args, **kwargs)

    try:
        yield driver, run_queued
    finally:
        _cleanup(engine, install_id)
        flt = {"label": [f"baas.install={install_id}"]}
        left = (engine.containers.list(all=True, filters=flt) + engine.volumes.list(filters=flt)
                + engine.networks.list(filters=flt))
        crypto.reset_cache()
        assert left == [], f"left behind: {left}"


def test_docker_backup_restores_and_export_holds_the_chain(platform, engine,  # noqa: F811
                                                           tmp_path):
    driver, run_queued = platform
    owner = MembershipFactory(role="owner")
    client = api_client_for(owner.user)
    started = time.monotonic()
    res = client.post("/api/v1/networks/", {"name": "dock", "validators": 1,
                                            "driver": "docker"}, format="json")
    assert res.status_code == 202, res.content
    network_id = res.json()["network"]["id"]
    run_queued()
    network = Network.objects.get(pk=network_id)
    assert network.status == "running", network.error_message
    assert network.driver == "docker"
    create_seconds = time.monotonic() - started
    (node,) = network.nodes.all()
    tx = client.post(f"/api/v1/networks/{network_id}/gateway/tx/",
                     {"chaincode": "kv", "function": "put", "args": ["exit", "path"]},
                     format="json")
    assert tx.status_code == 200 and tx.json()["code"] == 0, tx.content

    (container,) = engine.containers.list(filters={"label": [f"{L_NETWORK}={network_id}"]})
    started_at = container.attrs["State"]["StartedAt"]

    # Backup while it runs: the container is stopped, copied through the engine, started.
    started = time.monotonic()
    res = client.post(f"/api/v1/networks/{network_id}/backups/", {"passphrase": PASSPHRASE},
                      format="json")
    assert res.status_code == 202, res.content
    backup_id = res.json()["archive"]["id"]
    run_queued()
    op = _op(client, res.json()["operation"]["id"])
    assert op["state"] == "succeeded", (op["error_code"], op["error_message"])
    backup = Archive.objects.get(pk=backup_id)
    backup_seconds = time.monotonic() - started
    assert backup.status == "ready" and backup.height > 0 and backup.app_hash
    assert backup.validators == 1
    # The copy restarted the container, and Docker publishes its RPC port anew on a start
    # (the same host port or another, as the engine pleases). Whichever it is, the node's
    # row names the port the engine publishes *now* (asked of the engine, not of the
    # driver), and the node answers there: the copy waited for it there too.
    container.reload()
    assert container.status == "running"
    assert container.attrs["State"]["StartedAt"] != started_at  # it was restarted
    published = {f"http://{b['HostIp']}:{b['HostPort']}"
                 for b in container.ports.get(f"{RPC_PORT}/tcp") or []}
    node.refresh_from_db()
    assert published and node.rpc_url in published, (node.rpc_url, published)
    assert rpc.status(node.rpc_url, timeout=10).node_id
    node_url = node.rpc_url
    _wait_height(node_url, backup.height + 1, timeout=120)

    # Export while it runs; the archive holds the node's data.
    started = time.monotonic()
    res = client.post(f"/api/v1/networks/{network_id}/exports/")
    assert res.status_code == 202, res.content
    export_id = res.json()["archive"]["id"]
    run_queued()
    op = _op(client, res.json()["operation"]["id"])
    assert op["state"] == "succeeded", (op["error_code"], op["error_message"])
    export = Archive.objects.get(pk=export_id)
    export_seconds = time.monotonic() - started
    assert export.status == "ready" and export.height >= backup.height
    download = client.get(f"/api/v1/archives/{export_id}/download/")
    assert download.status_code == 200
    export_file = tmp_path / "export.tar.gz"
    export_file.write_bytes(b"".join(download.streaming_content))
    assert export_file.stat().st_size == export.size
    with tarfile.open(export_file) as tar:
        members = {m.name.split("/", 1)[1]: m for m in tar.getmembers() if "/" in m.name}
    names = set(members)
    assert {"run.py", "network.json", "README.md"} <= names, sorted(names)[:40]
    assert any(n.startswith("ledger/") and n.endswith(".py") for n in names)  # from the image
    home = f"nodes/{node.moniker}/"
    for rel in ("cometbft/config/genesis.json", "cometbft/config/priv_validator_key.json",
                "cometbft/config/node_key.json", "cometbft/data/priv_validator_state.json"):
        assert home + rel in names, (rel, sorted(n for n in names if n.startswith(home)))
    assert any(n.startswith(home + "cometbft/data/blockstore.db/") for n in names)
    assert any(n.startswith(home + "app/") and members[n].isfile() for n in names)
    assert not any(n.endswith(".baas-home-written") for n in names)
    _wait_height(driver.inspect_node(network_id=network_id, node_id=str(node.pk)).rpc_url,
                 export.height + 1, timeout=120)
    reference_url = driver.inspect_node(network_id=network_id, node_id=str(node.pk)).rpc_url
    reference = {h: rpc.app_hash(reference_url, h) for h in (2, backup.height)}
    # The export runs alone on this host (its ledger/ is the image's) and goes on.
    alone = _standalone(export_file, tmp_path / "alone", export.height + 2)
    assert alone["chain_id"] == network.chain_id
    assert alone["tx_code"] == 0 and "path" in json.dumps(alone["read"]), alone["read"]

    # The source network goes; the backup restores into a new Docker network.
    res = client.delete(f"/api/v1/networks/{network_id}/")
    assert res.status_code == 202, res.content
    run_queued()
    flt = {"label": [f"baas.network={network_id}"]}
    assert engine.containers.list(all=True, filters=flt) == []
    assert engine.volumes.list(filters=flt) == []

    started = time.monotonic()
    res = client.post("/api/v1/restores/", {"backup": backup_id, "name": "again",
                                            "passphrase": PASSPHRASE}, format="json")
    assert res.status_code == 202, res.content
    restored_id = res.json()["network"]["id"]
    run_queued()
    op = _op(client, res.json()["operation"]["id"])
    assert op["state"] == "succeeded", (op["error_code"], op["error_message"], op["steps"])
    restore_seconds = time.monotonic() - started
    restored = Network.objects.get(pk=restored_id)
    assert restored.status == "running" and restored.driver == "docker"
    assert restored.chain_id == network.chain_id
    (restored_node,) = restored.nodes.all()
    assert engine.containers.list(filters={"label": [f"baas.network={restored_id}"]})
    url = driver.inspect_node(network_id=restored_id, node_id=str(restored_node.pk)).rpc_url
    _wait_height(url, backup.height + 3, timeout=120)  # continues and commits new blocks
    assert {h: rpc.app_hash(url, h) for h in reference} == reference
    assert rpc.app_hash(url, backup.height + 1) == backup.app_hash
    got = client.post(f"/api/v1/networks/{restored_id}/gateway/query/",
                      {"chaincode": "kv", "function": "get", "args": ["exit"]}, format="json")
    assert got.status_code == 200 and "path" in json.dumps(got.json()), got.content

    res = client.delete(f"/api/v1/networks/{restored_id}/")
    assert res.status_code == 202, res.content
    run_queued()

    print(f"\ndocker: create {create_seconds:.1f} s; backup: {backup.size} bytes, "
          f"{backup_seconds:.1f} s (height {backup.height}); export: {export.size} bytes, "
          f"{export_seconds:.1f} s, standalone blocks after {alone['seconds']:.1f} s; "
          f"restore: {restore_seconds:.1f} s")
