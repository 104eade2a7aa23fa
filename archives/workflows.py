"""The steps of ``network.export``, ``network.backup`` and ``network.restore``.

Copying a node's data needs the node stopped (a copy under a writing node is not
consistent). Validators are copied one at a time: stop, copy, start, wait until it commits
again, next. Each copy is one consistent height of that node (its chain data and app
state agree); nodes copied later are a few blocks further, which is what a restarted
validator looks like to CometBFT, so the copies form one network again. A network with 4 or
more validators keeps making blocks throughout (one stopped validator is less than a third
of the power); with 1 to 3 the chain pauses while each copy is taken (seconds), and a
stopped network is copied as it stands, with nothing stopped or started.
"""

from __future__ import annotations

import base64
import glob
import json
import logging
import os
import re
import secrets
import shutil
import sqlite3
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from archives import fmt, store
from archives.choices import ArchiveStatus
from archives.models import Archive
from baas.runner import Cancelled, OperationEnded, Run, StepFailed
from deploy import crypto, homes, states
from deploy.choices import (
    NETWORK_LIVE,
    NODE_SUPERVISED,
    DesiredState,
    NetworkStatus,
    NodeHealth,
    NodeStatus,
)
from deploy.drivers import Driver, DriverError, driver_for
from deploy.drivers.config import REPO_ROOT
from deploy.models import Network, NetworkIdentity, Node, NodeKey
from deploy.workflows.lifecycle import live_height, wait_back
from deploy.workflows.provision import mark_running, wait_for_blocks

log = logging.getLogger(__name__)

_ID_RE = re.compile(fmt.ID_PATTERN)
_NODE_ID_RE = re.compile(r"^[0-9a-f]{40}$")
_HEX_KEY_RE = re.compile(r"^[0-9a-f]{64}$")

RUNNER = REPO_ROOT / "scripts" / "export_run.py"
PACKAGES = REPO_ROOT / "deploy" / "images" / "node" / "packages.txt"
# The ending of a file one run writes before it is renamed into place (an archive of the
# local store, a backup fetched from the S3 store); ``archives_sweep`` removes old ones.
PART = ".part"


def _app_state(home: Path) -> tuple[int, str]:
    """The height and app hash the copied app state holds (its own record, in the copy)."""
    path = home / "app" / "state.sqlite"
    if not path.is_file():
        return 0, ""
    db = sqlite3.connect(str(path))
    try:
        rows = dict(db.execute("SELECT k, v FROM meta WHERE k IN ('height', 'app_hash')"))
    except sqlite3.Error:
        return 0, ""
    finally:
        db.close()  # a clean close folds the WAL into the copy
    app_hash = rows.get("app_hash") or b""
    return int(rows.get("height") or 0), bytes(app_hash).hex().upper()


def copy_nodes(run: Run, network: Network, into: Path, *, start: int,
               end: int) -> list[fmt.BackupNode]:
    """Copy every validator's home into ``into/<index>`` (see the module docstring)."""
    driver = driver_for(network)
    # The owner's validators only: a member's validator (added after the request was
    # checked) holds keys that are not the owner's to copy.
    nodes = list(network.nodes.filter(status__in=NODE_SUPERVISED).filter(
        Q(tenant__isnull=True) | Q(tenant_id=network.tenant_id)).order_by("index"))
    if not nodes:
        raise StepFailed("network_incomplete", "the network has no validators to copy")
    live = network.status in NETWORK_LIVE
    copies = []
    for i, node in enumerate(nodes):
        dest = into / str(node.index)
        if live:
            before = live_height(node)
            driver.stop_node(network_id=str(network.pk), node_id=str(node.pk))
            try:
                driver.export_node_home(network_id=str(network.pk), node_id=str(node.pk),
                                        dest=dest)
            finally:
                # Back in any case: a failed copy must not leave a validator down -- unless
                # the network was asked to stop or go meanwhile, which the copy must not undo.
                if _still_wanted_running(network):
                    state = driver.start_node(network_id=str(network.pk), node_id=str(node.pk))
                    # Docker publishes the RPC port anew on each start: keep the node's URL
                    # (wait_back and every later client read it from the row).
                    url = getattr(state, "rpc_url", None)
                    if url and url != node.rpc_url:
                        Node.objects.filter(pk=node.pk).update(rpc_url=url)
            if not _still_wanted_running(network):
                raise StepFailed("network_busy", "the network was stopped during the copy")
            wait_back(node.pk, above=before, run=run)
        else:
            driver.export_node_home(network_id=str(network.pk), node_id=str(node.pk),
                                    dest=dest)
        height, _hash = _app_state(dest)
        copies.append(fmt.BackupNode(index=node.index, moniker=node.moniker, home=dest,
                                     height=height))
        run.step(start + (end - start) * (i + 1) // len(nodes), "node_copied",
                 f"copied {node.moniker} at height {height}", node=node.moniker,
                 height=height)
    return copies


def _still_wanted_running(network: Network) -> bool:
    return Network.objects.filter(pk=network.pk, desired_state=DesiredState.RUNNING,
                                  status__in=NETWORK_LIVE).exists()


def _finish(run: Run, archive: Archive, target: Path, key: str, **fields: Any) -> None:
    """The archive becomes ready, if it is still pending and this run still holds its
    operation; a local archive's file moves from this run's own name (``target``) to its
    final place then, never before, and an S3-kept archive's row records the key this run
    uploaded to (``key``, ``_object_key``): the archive is that object from then on.

    Checking the claim and updating the row happen in one transaction that holds the
    operation's row lock (``run.check``), so a run that was taken for stalled and taken
    over can neither make the archive ready nor put its file in the place of the newer
    run's, nor name its object on the row: it stops (``ClaimLost``) and leaves the archive
    to that run (its own file or object goes in the caller's ``finally``, ``_drop``).

    An archive the reconciler failed meanwhile (``copy_stalled``) or the reaper
    (``deadline_exceeded``), deleted since, or of a cancelled operation stays as it is, and
    what this run wrote goes: the uploaded object too, even when the row is gone (its key
    is this run's, known without the row), never the object a ready row names."""
    if key:
        fields["object_key"] = key
    try:
        with transaction.atomic():
            run.check()
            if Archive.objects.filter(pk=archive.pk, status=ArchiveStatus.PENDING).update(
                    status=ArchiveStatus.READY, finished_at=timezone.now(), **fields):
                if archive.store != store.S3:
                    # Atomic on one file system; an error rolls the row back to pending.
                    target.replace(_final_path(archive))
                return
    except (OperationEnded, Cancelled):
        pass  # nobody goes on with this archive: as abandoned
    _abandon(archive)
    raise StepFailed("archive_abandoned",
                     "the archive was failed while it was being written (the copy was "
                     "taken for stalled); its file was removed")


def _abandon(archive: Archive) -> None:
    """Remove what the run wrote for a local archive nobody will make ready, whether or
    not its row still exists. A ready archive (another run made it) keeps its file. An
    S3-kept archive's object of this run is its own key's, removed by ``_drop`` whatever
    became of the archive."""
    from archives.services import archive_file_remove

    if archive.store == store.S3:
        return
    if Archive.objects.filter(pk=archive.pk, status=ArchiveStatus.READY).exists():
        return
    try:
        archive_file_remove(archive)
    except OSError as exc:
        log.warning("archive %s: its file was not removed: %s", archive.pk, exc)


def _final_path(archive: Archive) -> Path:
    from archives.services import archive_path

    return archive_path(archive)


def _target(run: Run, archive: Archive, staging: Path) -> Path:
    """Where this run writes the archive: a file in the staging folder that is uploaded to
    the S3 store (and goes with the folder), or, for the local store, a name of this run's
    own next to the final place (``_finish`` renames it there once the run has checked it
    still holds the operation). Two runs of one operation (a takeover) never write one
    file."""
    if archive.store == store.S3:
        return staging / "upload" / "archive.tar.gz"
    return _final_path(archive).with_name(
        f"{archive.pk}.{run.claim or secrets.token_hex(8)}{PART}")


def _object_key(run: Run, archive: Archive) -> str:
    """The S3 key this run uploads the archive to (empty for the local store): a key of
    its own (``S3Store.run_key``, after its claim), so two runs of one operation never
    write one object, and a stale run's late upload never replaces the object of the
    archive another run made ready."""
    if archive.store != store.S3:
        return ""
    try:
        bucket = store.s3()
    except store.StoreError as exc:
        raise StepFailed(exc.code, exc.message) from None
    return bucket.run_key(archive.tenant_id, archive.pk, run.claim or secrets.token_hex(8))


def _drop(archive: Archive, target: Path, key: str) -> None:
    """What this run wrote and no ready archive names: its own local file, if it is still
    there (the run failed or stopped before ``_finish`` moved it into place), or its own
    object in the S3 store (``key``), unless the run made the archive ready with it. The
    run stopped for whatever reason (a failed step, a lost claim, a cancel, an archive
    failed or deleted meanwhile): nothing else will name that object. Not strict: a store
    that cannot be reached is logged, and ``archives_sweep`` removes the object later."""
    if archive.store != store.S3:
        target.unlink(missing_ok=True)
        return
    if not key or Archive.objects.filter(pk=archive.pk, object_key=key).exists():
        return
    try:
        store.s3().delete(key)
    except store.StoreError as exc:
        if exc.code != "archive_object_missing":
            log.warning("archive %s: this run's object %s was not removed (%s); the sweep "
                        "removes it", archive.pk, key, exc.reason)


def _publish(run: Run, archive: Archive, path: Path, key: str, size: int,
             digest: str) -> None:
    """Upload an archive written for the S3 store to this run's own ``key``. The row
    becomes ready (and names ``key``) only after this returns; a failed upload leaves no
    object (its multipart upload is aborted) and the archive fails with the store's code."""
    if archive.store != store.S3:
        return
    # The step checks the claim: a run taken over stops here, before its upload. A run
    # taken over *during* its upload stops at the next part (``beat``, every few seconds,
    # aborts the multipart upload), but one whose last part was read just before the
    # takeover may still complete its object after the newer run made the archive ready:
    # that object is under this run's key, which the row never names (``_finish`` refuses
    # a run without the claim), and goes in the caller's ``finally`` (``_drop``).
    run.step(90, "archive_uploading", f"uploading {size} bytes to the backup store",
             size=size)
    try:
        bucket = store.s3()
        bucket.put_file(key, path, size=size, sha256=digest, beat=run.beat)
    except store.StoreError as exc:
        raise StepFailed(exc.code, exc.message) from None


def _staging() -> tempfile.TemporaryDirectory[str]:
    root = Path(settings.BAAS_BACKUP_DIR) / ".staging"
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    return tempfile.TemporaryDirectory(dir=root)


def _highest(copies: list[fmt.BackupNode]) -> tuple[int, str]:
    best = max(copies, key=lambda c: c.height)
    return _app_state(best.home)


# --- export --------------------------------------------------------------------------------


def _requirements() -> str:
    pins = {line.split("==")[0].split("[")[0].lower(): line.strip()
            for line in (REPO_ROOT / "requirements.txt").read_text().splitlines()
            if "==" in line and not line.startswith("#")}
    names = [line.strip() for line in PACKAGES.read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    return "".join(f"{pins.get(n.lower(), n)}\n" for n in names)


README = """# {name}: an exported BaaS network

Chain `{chain_id}`, {count} validator(s), exported at height {height} (app hash
`{app_hash}`), ledger version `{version}`, on {when}.

This folder runs the network without the platform it came from.

## What is inside

- `nodes/<moniker>/`: each validator's home: `cometbft/config/` (config, genesis, node
  and validator keys), `cometbft/data/` (the chain), `app/` (the ledger state).
- `ledger/`: the ledger code the network ran (version `{version}`), so blocks are
  executed by the same code.
- `run.py` / `run.sh`: start every validator on free 127.0.0.1 ports and stop them.
- `network.json`: chain id, validators, the height and app hash of the export.
- `requirements.txt`: the Python packages the ledger needs.
- `keys/<organisation>-<member>.json`: your organisation's signing identity on the chain
  (its admin), to sign transactions and register other keys.

## The keys inside are secrets

`priv_validator_key.json` signs blocks as this validator, `node_key.json` is its
network identity, and `keys/` holds your organisation's admin key on the chain. Anyone
holding this archive can sign as your validators and as your organisation. Keep it like
a password, and never run this copy while the platform's copy of the same network runs:
two validators with one key sign conflicting blocks (double signing).

## How to run

    python3 -m venv .venv && .venv/bin/pip install -r requirements.txt
    # cometbft {cometbft} on PATH (or COMETBFT_BIN=/path/to/cometbft)
    .venv/bin/python run.py            # Ctrl-C stops every validator
    .venv/bin/python run.py --detach   # in the background; --stop stops it

`run.py` prints each validator's RPC URL (`http://127.0.0.1:<port>/status` shows the
height). The chain continues from height {height}. Logs: `nodes/<moniker>/node.log`.
Submitting a transaction (with `PYTHONPATH=.` and the RPC URL `run.py` printed):

    PYTHONPATH=. .venv/bin/python -m ledger tx --node http://127.0.0.1:<rpc port> \\
        --key keys/<organisation>-<member>.json --chaincode kv --function put \\
        --args '["greeting", "hello"]'

`python -m ledger --help` lists the other commands (status, query, call).
"""


def _identity_keys(network: Network, into: Path) -> None:
    """The organisation's managed signing identities (its on-chain admin), in the key file
    format ``python -m ledger tx --key`` reads: without them nobody could sign a
    transaction on the exported network, or register new keys."""
    into.mkdir(mode=0o700)
    for ident in NetworkIdentity.objects.filter(network=network, tenant=network.tenant):
        if not (_ID_RE.match(ident.organisation_id) and _ID_RE.match(ident.member_id)):
            # Only restores could store such ids (now refused): never a path outside keys/.
            raise StepFailed("invalid_identity",
                             f"identity {ident.organisation_id!r} is not a valid id")
        private = crypto.unseal(ident.sealed_private_key)
        path = into / f"{ident.organisation_id}-{ident.member_id}.json"
        path.write_text(json.dumps({"private_key": private.hex(),
                                    "public_key": ident.public_key,
                                    "organisation": ident.organisation_id,
                                    "member": ident.member_id}) + "\n")
        path.chmod(0o600)


def _done_already(run: Run, archive: Archive) -> bool:
    """A run that made the archive ready and stopped before ending its operation: the
    run that took it over ends it (copying again would write over the ready file)."""
    if archive.status != ArchiveStatus.READY:
        return False
    run.succeed("archive_ready", f"archive ready: height {archive.height}, "
                f"{archive.size} bytes", height=archive.height, size=archive.size)
    return True


def export(run: Run, archive_id: str) -> None:
    archive = Archive.objects.select_related("network").get(pk=archive_id)
    if _done_already(run, archive):
        return
    network = archive.network
    if network is None:
        raise StepFailed("not_found", "the network is gone")
    driver = driver_for(network)
    with _staging() as tmp:
        staging = Path(tmp)
        out = staging / "export"
        out.mkdir()
        driver.ledger_source(network.ledger_version, out)
        run.step(10, "export_ledger_copied",
                 f"copied ledger {network.ledger_version}", version=network.ledger_version)
        copies = copy_nodes(run, network, staging / "homes", start=10, end=70)
        height, app_hash = _highest(copies)
        (out / "nodes").mkdir()
        for copy in copies:
            shutil.move(str(copy.home), str(out / "nodes" / copy.moniker))
        (out / "network.json").write_text(json.dumps({
            "format": fmt.EXPORT_FORMAT, "version": fmt.FORMAT_VERSION,
            "chain_id": network.chain_id, "name": network.name, "height": height,
            "app_hash": app_hash, "ledger_version": network.ledger_version,
            "exported_at": timezone.now().isoformat(),
            "nodes": [{"moniker": c.moniker, "home": f"nodes/{c.moniker}",
                       "height": c.height} for c in copies]}, indent=2) + "\n")
        _identity_keys(network, out / "keys")
        shutil.copyfile(RUNNER, out / "run.py")
        (out / "run.sh").write_text('#!/bin/sh\ncd "$(dirname "$0")" && exec '
                                    '"${PYTHON:-python3}" run.py "$@"\n')
        (out / "requirements.txt").write_text(_requirements())
        (out / "README.md").write_text(README.format(
            name=network.name, chain_id=network.chain_id, count=len(copies), height=height,
            app_hash=app_hash or "-", version=network.ledger_version,
            when=timezone.now().strftime("%Y-%m-%d %H:%M UTC"),
            cometbft=network.engine_version))
        run.step(80, "archive_writing", "writing the archive")
        target, key = _target(run, archive, staging), _object_key(run, archive)
        try:
            size, digest = fmt.write_tar_gz(out, target, prefix=f"{network.name}/",
                                            first=("README.md",))
            _publish(run, archive, target, key, size, digest)
            _finish(run, archive, target, key, height=height, app_hash=app_hash, size=size,
                    sha256=digest, validators=len(copies))
        finally:
            _drop(archive, target, key)
    run.succeed("archive_ready", f"archive ready: height {height}, {size} bytes",
                height=height, size=size)


# --- backup --------------------------------------------------------------------------------


def backup(run: Run, archive_id: str, sealed_passphrase: str) -> None:
    archive = Archive.objects.select_related("network", "tenant").get(pk=archive_id)
    if _done_already(run, archive):
        return
    network = archive.network
    if network is None:
        raise StepFailed("not_found", "the network is gone")
    if network.status not in NETWORK_LIVE:
        raise StepFailed("network_not_running", "only a running network is backed up")
    passphrase = crypto.unseal(sealed_passphrase.encode()).decode()
    identities = [{"tenant": str(i.tenant_id), "organisation_id": i.organisation_id,
                   "member_id": i.member_id, "public_key": i.public_key,
                   "private_key": base64.b64encode(crypto.unseal(i.sealed_private_key))
                   .decode()}
                  # The owner's own signers: a consortium member's key is not the owner's
                  # to carry away (nor to restore as its own).
                  for i in NetworkIdentity.objects.filter(network=network,
                                                          tenant_id=network.tenant_id)]
    with _staging() as tmp:
        staging = Path(tmp)
        copies = copy_nodes(run, network, staging / "homes", start=5, end=75)
        height, app_hash = _highest(copies)
        header = {"install_id": homes.install_id(), "tenant_id": str(archive.tenant_id),
                  "network_id": str(network.pk), "network_name": network.name,
                  "chain_id": network.chain_id, "ledger_version": network.ledger_version,
                  "driver": network.driver, "public_access": network.public_access,
                  "height": height, "app_hash": app_hash,
                  "created_at": timezone.now().isoformat()}
        run.step(80, "archive_writing", "writing the archive")
        target, key = _target(run, archive, staging), _object_key(run, archive)
        try:
            size, digest, _manifest = fmt.build_backup(
                staging=staging, target=target, header=header, nodes=copies,
                identities=identities, passphrase=passphrase)
            _publish(run, archive, target, key, size, digest)
            _finish(run, archive, target, key, height=height, app_hash=app_hash, size=size,
                    sha256=digest, validators=len(copies))
        finally:
            _drop(archive, target, key)
    if archive.scheduled:
        from archives.services import prune_scheduled

        prune_scheduled(network.pk)
    run.succeed("archive_ready", f"archive ready: height {height}, {size} bytes",
                height=height, size=size)


def archive_failed(archive_id: str) -> Any:
    """Failure policy of export and backup: the archive row fails, its file never was."""

    def on_failure(code: str, message: str) -> str | None:
        Archive.objects.filter(pk=archive_id, status=ArchiveStatus.PENDING).update(
            status=ArchiveStatus.FAILED, error_code=code[:64], finished_at=timezone.now())
        return code

    return on_failure


# --- restore -------------------------------------------------------------------------------


def _config_template() -> str:
    """A fresh ``config.toml`` as ``cometbft init`` writes it: the restored nodes get the
    same configuration provisioning gives new ones, never the archive's (which could turn
    on the unsafe RPC, profiling on every interface, or files outside the home)."""
    from ledger.network import COMETBFT_BIN

    with tempfile.TemporaryDirectory(prefix="baas-restore-") as tmp:
        done = subprocess.run([COMETBFT_BIN, "init", "--home", tmp], capture_output=True,
                              text=True, timeout=60, check=False)
        if done.returncode != 0:
            raise StepFailed("driver_error", f"cometbft init failed: {done.stderr.strip()}")
        return (Path(tmp) / "config" / "config.toml").read_text()


def _configured(template: str, node: Node, peers: str) -> bytes:
    from ledger import network as ledger_network

    with tempfile.TemporaryDirectory(prefix="baas-restore-") as tmp:
        path = Path(tmp) / "config.toml"
        path.write_text(template)
        ledger_network._configure(path, ledger_network.NodeConfig(
            index=node.index, moniker=node.moniker, host=node.host, p2p_port=node.p2p_port,
            rpc_port=node.rpc_port, abci_port=node.abci_port), peers)
        return path.read_bytes()


def _corrupt(message: str) -> StepFailed:
    return StepFailed("archive_corrupt", message)


def _archive_node(opened: fmt.OpenedBackup, network: Network,
                  index: int) -> tuple[str, bytes, dict[str, bytes]]:
    """What a node takes from the archive besides its data: its CometBFT node id, the
    genesis (of this chain) and the two key files the manifest lists. Anything else the
    archive holds for the node is not used."""
    home = opened.node_home(index)
    try:
        info = json.loads((home / "node.json").read_text())
        genesis = (home / "cometbft" / "config" / "genesis.json").read_bytes()
        chain = json.loads(genesis).get("chain_id")
    except (OSError, ValueError, AttributeError):
        raise _corrupt(f"node {index}: node.json or genesis.json is damaged") from None
    node_id = info.get("node_id") if isinstance(info, dict) else None
    if not isinstance(node_id, str) or not _NODE_ID_RE.match(node_id):
        raise _corrupt(f"node {index}: node.json has no valid node id")
    if chain != network.chain_id:
        raise _corrupt(f"node {index}: the genesis is of another chain ({chain!r})")
    listed = next((set(n["keys"]) for n in opened.manifest["nodes"] if n["index"] == index),
                  set())
    keys = {path: content for path, content in opened.node_keys(index).items()
            if path in fmt.NODE_KEY_PATHS and path in listed}
    if set(keys) != set(fmt.NODE_KEY_PATHS):
        raise _corrupt(f"node {index}: the backup lacks its CometBFT keys")
    return node_id, genesis, keys


def _identities(opened: fmt.OpenedBackup, network: Network) -> list[dict[str, Any]]:
    """The owner's signing identities of the backup, checked: one per organisation and
    member, ids a ledger accepts (they become file names of a later export)."""
    out, seen = [], set()
    for ident in opened.keys.get("identities") or []:
        if not isinstance(ident, dict) or str(ident.get("tenant")) != str(network.tenant_id):
            continue  # older backups carried members' identities: not the owner's
        org, member = ident.get("organisation_id"), ident.get("member_id")
        public = ident.get("public_key")
        if not all(isinstance(v, str) for v in (org, member, public)) \
                or not _ID_RE.match(org) or not _ID_RE.match(member) \
                or not _HEX_KEY_RE.match(public) or (org, member) in seen:
            raise _corrupt("the backup's signing identities are damaged")
        try:
            private = base64.b64decode(ident["private_key"], validate=True)
        except (KeyError, TypeError, ValueError):
            raise _corrupt("the backup's signing identities are damaged") from None
        seen.add((org, member))
        out.append({"organisation_id": org, "member_id": member, "public_key": public,
                    "private_key": private})
    if len(out) > 1:  # the owner has one managed identity per network
        raise _corrupt("the backup holds more than one signing identity of its owner")
    return out


def _store_homes(network: Network, nodes: list[Node], opened: fmt.OpenedBackup) -> None:
    """Node rows get a configuration made here (the platform's template, this network's
    addresses), the backup's genesis and CometBFT keys sealed with the platform key, as
    provisioning would have stored."""
    template = _config_template()
    taken = {node.index: _archive_node(opened, network, node.index) for node in nodes}
    if len({genesis for _id, genesis, _keys in taken.values()}) > 1:
        raise _corrupt("the nodes of the backup have different genesis files")
    identities = _identities(opened, network)
    genesis = None
    with transaction.atomic():
        for node in nodes:
            node_id, genesis, keys = taken[node.index]
            peers = ",".join(f"{taken[o.index][0]}@{o.host}:{o.p2p_port}"
                             for o in nodes if o.pk != node.pk)
            info = {"moniker": node.moniker, "chain_id": network.chain_id,
                    "abci_port": node.abci_port, "rpc_port": node.rpc_port,
                    "p2p_port": node.p2p_port, "host": node.host, "node_id": node_id}
            files = {"node.json": (json.dumps(info, indent=2) + "\n").encode(),
                     "cometbft/config/genesis.json": genesis,
                     "cometbft/config/config.toml": _configured(template, node, peers)}
            NodeKey.objects.filter(node=node).delete()
            for path, content in keys.items():
                NodeKey.objects.create(node=node, path=path, sealed=crypto.seal(content))
            node.home_config = {p: base64.b64encode(c).decode() for p, c in files.items()}
            node.validator_pub_key = homes._validator_pub_key(keys)
            node.save(update_fields=["home_config", "validator_pub_key", "updated_at"])
        if genesis is not None:
            network.genesis = json.loads(genesis)
            network.save(update_fields=["genesis", "updated_at"])
        NetworkIdentity.objects.filter(network=network).delete()
        for ident in identities:
            NetworkIdentity.objects.create(
                network=network, tenant=network.tenant,
                organisation_id=ident["organisation_id"], member_id=ident["member_id"],
                public_key=ident["public_key"],
                sealed_private_key=crypto.seal(ident["private_key"]))


def _data_only(home: Path) -> None:
    """Keep only the chain data and the app state of an unpacked node home: the driver
    copies what is left next to the files stored above, and nothing else of the archive
    (an address book, a config of its own) may come along."""
    for item in list(home.rglob("*")):
        if item.is_file() and not item.relative_to(home).as_posix().startswith(
                ("cometbft/data/", "app/")):
            item.unlink()


def fetch_stored(run: Run, archive_id: str, dest: Path) -> None:
    """Download a backup kept in the S3 store into ``dest`` (a restore upload), checked
    against the size and SHA-256 recorded when it was made; the operation beats as the
    chunks come.

    Two runs of one restore (one taken for stalled, and the run that took it over) never
    stream into one file: each downloads to a name of its own next to ``dest``, and only
    a whole, checked download is renamed to ``dest``, under the operation's row lock while
    the run still holds the claim. Whatever stops the download removes its file."""
    archive = Archive.objects.filter(pk=archive_id).first()
    if archive is None:
        raise StepFailed("not_found", "the backup was deleted before its restore began")
    run.step(2, "archive_downloading",
             f"downloading {archive.size} bytes from the backup store", size=archive.size)
    part = dest.with_name(f"{dest.name}.{run.claim or secrets.token_hex(8)}{PART}")
    try:
        try:
            bucket = store.s3()
            bucket.fetch_to(store.archive_key(bucket, archive), part,
                            size=archive.size, sha256=archive.sha256, beat=run.beat)
        except store.StoreError as exc:
            raise StepFailed(exc.code, exc.message) from None
        with transaction.atomic():
            run.check()
            os.replace(part, dest)
    finally:
        part.unlink(missing_ok=True)
    run.step(10, "archive_downloaded", "downloaded the backup; its SHA-256 is the recorded one")


def restore(run: Run, network_id: str, archive_file: str, sealed_passphrase: str,
            uploaded: bool, *, stored_archive: str = "") -> None:
    network = Network.objects.get(pk=network_id)
    if network.status in NETWORK_LIVE:
        run.succeed("already_running", "already running")
        return
    if stored_archive:
        fetch_stored(run, stored_archive, Path(archive_file))
    passphrase = crypto.unseal(sealed_passphrase.encode()).decode()
    driver = driver_for(network)
    with _staging() as tmp:
        try:
            opened = fmt.open_backup(Path(archive_file), passphrase, Path(tmp) / "backup",
                                     max_total=int(settings.BAAS_BACKUP_MAX_BYTES))
        except fmt.ArchiveError as exc:
            raise StepFailed(exc.code, exc.message) from None
        height = int(opened.manifest.get("height") or 0)
        run.step(15, "archive_verified",
                 f"the backup is whole: height {height}", height=height)
        states.network_transition(network_id=network_id, to=NetworkStatus.PROVISIONING,
                                  allow_same=True)
        runtime = driver.ensure_runtime(network.ledger_version)
        Network.objects.filter(pk=network_id).update(runtime_ref=runtime.ref[:255])
        nodes = _plan(network, driver)
        _store_homes(network, nodes, opened)
        run.step(30, "keys_restored", "stored the backup's keys (sealed) and genesis")
        driver.prepare_network(install_id=homes.install_id(),
                               tenant_id=str(network.tenant_id), network_id=network_id)
        for i, node in enumerate(Node.objects.filter(network=network).order_by("index")):
            _data_only(opened.node_home(node.index))
            state = driver.import_node(homes.node_spec(node), opened.node_home(node.index))
            states.node_transition(node_id=node.pk, to=NodeStatus.STARTING,
                                   detail=state.detail, rpc_url=state.rpc_url or "")
            run.step(30 + 40 * (i + 1) // len(nodes), "node_started",
                     f"started {node.moniker}", node=node.moniker)
    run.step(75, "waiting_block_above", f"waiting for a block above height {height}",
             height=height)
    heights = wait_for_blocks(network_id, above=height, driver=driver, run=run)
    run.check()
    mark_running(network_id, heights)
    if uploaded:
        _remove_upload(archive_file)
    run.succeed("network_restored",
                f"restored: continues from height {height}, now at {max(heights.values())}",
                height=height, now=max(heights.values()))


def _remove_upload(archive_file: str) -> None:
    """The restore's file, and what a run that stopped mid-download left next to it
    (``fetch_stored``: a run that still downloads finds its file gone and stops at its
    claim check)."""
    path = Path(archive_file)
    path.unlink(missing_ok=True)
    for part in path.parent.glob(f"{glob.escape(path.name)}.*{PART}"):
        part.unlink(missing_ok=True)


def _plan(network: Network, driver: Driver) -> list[Node]:
    from deploy.workflows.provision import plan_nodes

    return plan_nodes(network, driver)


def restore_failed(network_id: str, archive_file: str, uploaded: bool) -> Any:
    """A damaged archive or a failed start: the new network goes again (its nodes, its
    keys, its row), so a failed restore leaves nothing half-made; the operation keeps the
    reason."""

    def on_failure(code: str, message: str) -> str | None:
        network = Network.objects.filter(pk=network_id).first()
        if network is None:
            return code
        try:
            driver_for(network).delete_network(network_id=network_id)
        except DriverError as exc:  # the reconciler's orphan sweep finds what is left
            log.warning("restore of %s: cleanup left driver objects: %s", network_id, exc)
        NodeKey.objects.filter(node__network_id=network_id).delete()
        NetworkIdentity.objects.filter(network_id=network_id).delete()
        for node in network.nodes.exclude(status=NodeStatus.DELETED):
            states.node_transition(node_id=node.pk, to=NodeStatus.DELETED,
                                   health=NodeHealth.UNKNOWN)
        Network.objects.filter(pk=network_id).update(
            desired_state=DesiredState.DELETED, error_code=code[:64],
            error_message=message[:4000])
        if network.status != NetworkStatus.DELETED:
            if network.status != NetworkStatus.DELETING:
                states.network_transition(network_id=network_id, to=NetworkStatus.DELETING)
            states.network_transition(network_id=network_id, to=NetworkStatus.DELETED)
        if uploaded:
            _remove_upload(archive_file)
        return code

    return on_failure
