"""Export, backup and restore of one real local network (CometBFT, the local driver).

One network serves every scenario, in order (they build on each other, so they are one
test): a 2-validator network takes a transaction; an export and a backup are made while
it runs; the platform's copy stops; the export runs ALONE from its archive (only the
archive's run.py, its ledger/ and cometbft; no platform code on PYTHONPATH) and commits new
blocks on the same chain id past the export's height; a restore is refused while the
source network exists, and once it is deleted, the backup restores into a new network
whose blocks carry the same app hashes up to the backup and that goes on committing, with
the transaction's value still there. A second backup goes to the S3-compatible store (a
real S3 server on loopback, ``s3_server``) and restores too, once the first restored
network is deleted.

Tasks run in this process (their Celery shims called directly); timings are printed.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import httpx
import pytest

from archives.models import Archive
from baas.testing import api_client_for
from deploy import rpc
from deploy.drivers.local import LocalDriver
from deploy.models import Network
from deploy.tests.factories import MembershipFactory

pytestmark = [pytest.mark.django_db, pytest.mark.slow, pytest.mark.cometbft, pytest.mark.s3]

PASSPHRASE = "correct horse battery staple"


@pytest.fixture
def platform(tmp_path, settings, monkeypatch):
    if shutil.which("cometbft") is None:
        pytest.skip("cometbft not on PATH")
    from deploy import crypto

    settings.BAAS_NODE_KEYS_KEY_FILE = str(tmp_path / "kek")
    settings.BAAS_BACKUP_DIR = str(tmp_path / "backups")
    settings.DEPLOY_FIRST_BLOCK_TIMEOUT_S = 90
    crypto.reset_cache()
    driver = LocalDriver(nodes_dir=tmp_path / "n")
    monkeypatch.setattr("deploy.drivers.registry.get_driver", lambda name, **kw: driver)
    queued: list[tuple] = []

    def later(task, *args, **kwargs):
        queued.append((task, args, kwargs))

    # The tasks run here, when the test says so, not on a worker.
    monkeypatch.setattr("archives.services.enqueue_after_commit", later)
    monkeypatch.setattr("deploy.services.enqueue_after_commit", later)

    def run_queued():
        while queued:
            task, args, kwargs = queued.pop(0)
            task(*args, **kwargs)

    yield driver, run_queued
    for net_dir in (tmp_path / "n").glob("*-*-*-*-*"):
        driver.delete_network(network_id=net_dir.name)
    crypto.reset_cache()


def _op(client, op_id):
    return client.get(f"/api/v1/operations/{op_id}/").json()


def _height(url: str) -> int:
    return rpc.status(url).height


def _wait_height(url: str, above: int, timeout: float = 60) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            height = _height(url)
            if height > above:
                return height
        except rpc.RpcError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"{url} never passed height {above}")


def _standalone(archive: Path, workdir: Path, above: int) -> dict:
    """Unpack the export and run it with nothing of this checkout importable."""
    with tarfile.open(archive) as tar:
        tar.extractall(workdir, filter="data")
    (root,) = [p for p in workdir.iterdir() if p.is_dir()]
    assert {"README.md", "run.py", "run.sh", "network.json", "ledger", "nodes",
            "requirements.txt", "keys"} <= {p.name for p in root.iterdir()}
    env = {"PATH": os.environ["PATH"], "HOME": str(workdir), "LANG": "C.UTF-8"}
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-I", "run.py"], cwd=root, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    urls = []
    try:
        for _ in range(1 + len(json.loads((root / "network.json").read_text())["nodes"])):
            line = proc.stdout.readline()
            if " rpc " in line:
                urls.append(line.split(" rpc ")[1].split()[0])
        assert urls, "run.py printed no RPC URL"
        heights = [_wait_height(url, above) for url in urls]
        status = httpx.get(f"{urls[0]}/status", timeout=5).json()["result"]
        # Not the platform's ledger: each node imports the archive's copy.
        # The organisation's key inside signs a transaction; the state written before
        # the export is there. Only the archive is importable (PYTHONPATH=the folder).
        (key,) = (root / "keys").iterdir()
        cli_env = {**env, "PYTHONPATH": str(root)}

        def cli(*args: str) -> dict:
            done = subprocess.run([sys.executable, "-m", "ledger", *args, "--node", urls[0]],
                                  cwd=root, env=cli_env, capture_output=True, text=True,
                                  timeout=60)
            assert done.returncode == 0, done.stderr[-2000:]
            return json.loads(done.stdout)

        sent = cli("tx", "--key", str(key), "--chaincode", "kv", "--function", "put",
                   "--args", '["alone", "yes"]')
        read = cli("call", "--chaincode", "kv", "--function", "get", "--args", '["exit"]')
        pids = [e["pid"] for e in json.loads((root / "run.pids").read_text())]
        environ = Path(f"/proc/{pids[0]}/environ").read_bytes().split(b"\0")
        return {"heights": heights, "chain_id": status["node_info"]["network"],
                "tx_code": sent["code"], "read": read,
                "pythonpath": next(e for e in environ if e.startswith(b"PYTHONPATH=")),
                "root": root, "seconds": time.monotonic() - started}
    finally:
        proc.send_signal(signal.SIGTERM)  # run.py stops its validators
        try:
            proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        for pid in [e["pid"] for e in json.loads((root / "run.pids").read_text())] \
                if (root / "run.pids").exists() else []:
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def test_export_runs_alone_and_a_backup_restores_the_chain(platform, tmp_path, settings,
                                                           s3_server):
    from archives.tests.test_s3 import s3_configure

    driver, run_queued = platform
    owner = MembershipFactory(role="owner")
    client = api_client_for(owner.user)
    res = client.post("/api/v1/networks/", {"name": "keep", "validators": 2}, format="json")
    assert res.status_code == 202, res.content
    network_id = res.json()["network"]["id"]
    run_queued()
    network = Network.objects.get(pk=network_id)
    assert network.status == "running", network.error_message
    tx = client.post(f"/api/v1/networks/{network_id}/gateway/tx/",
                     {"chaincode": "kv", "function": "put", "args": ["exit", "path"]},
                     format="json")
    assert tx.status_code == 200 and tx.json()["code"] == 0, tx.content

    # A developer may not take the keys away.
    dev = MembershipFactory(role="developer", tenant=owner.tenant)
    refused = api_client_for(dev.user, owner.tenant).post(
        f"/api/v1/networks/{network_id}/exports/")
    assert refused.status_code == 403 and Archive.objects.count() == 0

    # Export while it runs.
    started = time.monotonic()
    res = client.post(f"/api/v1/networks/{network_id}/exports/")
    assert res.status_code == 202, res.content
    export_id, export_op = res.json()["archive"]["id"], res.json()["operation"]["id"]
    run_queued()
    op = _op(client, export_op)
    assert op["state"] == "succeeded", (op["error_code"], op["error_message"])
    export = Archive.objects.get(pk=export_id)
    export_seconds = time.monotonic() - started
    assert export.status == "ready" and export.height > 0 and export.validators == 2
    download = client.get(f"/api/v1/archives/{export_id}/download/")
    assert download.status_code == 200
    export_file = tmp_path / "export.tar.gz"
    export_file.write_bytes(b"".join(download.streaming_content))
    assert export_file.stat().st_size == export.size

    # Backup while it runs.
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
    assert backup.height >= export.height and backup.app_hash
    node_url = network.nodes.order_by("index").first().rpc_url
    _wait_height(node_url, backup.height + 1)  # the copies left the network running

    # A second backup, to the S3 store (uploaded, nothing of it kept on the local disk).
    s3_configure(settings, tmp_path, s3_server)
    started = time.monotonic()
    res = client.post(f"/api/v1/networks/{network_id}/backups/", {"passphrase": PASSPHRASE},
                      format="json")
    assert res.status_code == 202, res.content
    run_queued()
    op = _op(client, res.json()["operation"]["id"])
    assert op["state"] == "succeeded", (op["error_code"], op["error_message"])
    s3_backup = Archive.objects.get(pk=res.json()["archive"]["id"])
    s3_backup_seconds = time.monotonic() - started
    assert s3_backup.store == "s3" and s3_backup.height >= backup.height
    assert not (Path(settings.BAAS_BACKUP_DIR) / str(owner.tenant.pk)
                / f"{s3_backup.pk}.tar.gz").exists()
    _wait_height(node_url, s3_backup.height + 1)
    reference = {h: rpc.app_hash(node_url, h) for h in (2, backup.height)}

    # Stop the platform's copy; run the export alone.
    res = client.post(f"/api/v1/networks/{network_id}/stop/")
    assert res.status_code == 202, res.content
    run_queued()
    network.refresh_from_db()
    assert network.status == "stopped"
    # A stopped network is exported as it stands: nothing is started.
    res = client.post(f"/api/v1/networks/{network_id}/exports/")
    assert res.status_code == 202, res.content
    run_queued()
    stopped_export = Archive.objects.get(pk=res.json()["archive"]["id"])
    assert stopped_export.status == "ready" and stopped_export.height >= backup.height
    assert not any(driver.inspect_node(network_id=network_id, node_id=str(n.pk)).running
                   for n in network.nodes.all())
    alone = _standalone(export_file, tmp_path / "alone", export.height + 2)
    assert alone["chain_id"] == network.chain_id
    assert min(alone["heights"]) > export.height + 2
    assert alone["pythonpath"] == f"PYTHONPATH={alone['root']}".encode()
    assert alone["tx_code"] == 0 and "path" in json.dumps(alone["read"]), alone["read"]

    # A restore is refused while the source network exists (stopped here), and for a
    # wrong passphrase; nothing is made.
    before = Network.objects.count()
    res = client.post("/api/v1/restores/", {"backup": backup_id, "name": "again",
                                            "passphrase": PASSPHRASE}, format="json")
    assert res.status_code == 409, res.content
    assert res.json()["error"]["code"] == "source_network_exists"
    res = client.post("/api/v1/restores/", {"backup": backup_id, "name": "again",
                                            "passphrase": "not the passphrase"},
                      format="json")
    assert res.json()["error"]["code"] == "wrong_passphrase"
    assert Network.objects.count() == before

    res = client.delete(f"/api/v1/networks/{network_id}/")
    assert res.status_code == 202, res.content
    run_queued()

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
    assert restored.status == "running" and restored.chain_id == network.chain_id
    urls = [n.rpc_url for n in restored.nodes.order_by("index")]
    for url in urls:
        _wait_height(url, backup.height + 1)
        assert {h: rpc.app_hash(url, h) for h in reference} == reference
    # The state after the backup's height is the backup's: the next header says so.
    assert rpc.app_hash(urls[0], backup.height + 1) == backup.app_hash
    got = client.post(f"/api/v1/networks/{restored_id}/gateway/query/",
                      {"chaincode": "kv", "function": "get", "args": ["exit"]}, format="json")
    assert got.status_code == 200 and "path" in json.dumps(got.json()), got.content
    tx = client.post(f"/api/v1/networks/{restored_id}/gateway/tx/",
                     {"chaincode": "kv", "function": "put", "args": ["after", "restore"]},
                     format="json")
    assert tx.status_code == 200 and tx.json()["code"] == 0, tx.content

    # The S3 backup restores too, once the network holding its chain id is gone.
    res = client.delete(f"/api/v1/networks/{restored_id}/")
    assert res.status_code == 202, res.content
    run_queued()
    started = time.monotonic()
    res = client.post("/api/v1/restores/", {"backup": str(s3_backup.pk), "name": "from-s3",
                                            "passphrase": PASSPHRASE}, format="json")
    assert res.status_code == 202, res.content
    from_s3_id = res.json()["network"]["id"]
    run_queued()
    op = _op(client, res.json()["operation"]["id"])
    assert op["state"] == "succeeded", (op["error_code"], op["error_message"], op["steps"])
    s3_restore_seconds = time.monotonic() - started
    from_s3 = Network.objects.get(pk=from_s3_id)
    assert from_s3.status == "running" and from_s3.chain_id == network.chain_id
    url = from_s3.nodes.order_by("index").first().rpc_url
    _wait_height(url, s3_backup.height + 1)
    assert {h: rpc.app_hash(url, h) for h in reference} == reference
    assert rpc.app_hash(url, s3_backup.height + 1) == s3_backup.app_hash
    # The local copy the restore streamed from the bucket is gone again.
    assert not any((Path(settings.BAAS_BACKUP_DIR) / str(owner.tenant.pk) / "uploads")
                   .glob("*"))

    print(f"\nexport: {export.size} bytes, {export_seconds:.1f} s (height {export.height}); "
          f"standalone first blocks after {alone['seconds']:.1f} s; "
          f"backup: {backup.size} bytes, {backup_seconds:.1f} s; "
          f"restore: {restore_seconds:.1f} s; S3 backup: {s3_backup.size} bytes, "
          f"{s3_backup_seconds:.1f} s; S3 restore: {s3_restore_seconds:.1f} s")
