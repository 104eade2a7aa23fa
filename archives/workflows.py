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
import json
import logging
import shutil
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from archives import fmt
from archives.choices import ArchiveStatus
from archives.models import Archive
from baas.runner import Run, StepFailed
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

RUNNER = REPO_ROOT / "scripts" / "export_run.py"
PACKAGES = REPO_ROOT / "deploy" / "images" / "node" / "packages.txt"


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
    nodes = list(network.nodes.filter(status__in=NODE_SUPERVISED).order_by("index"))
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
                # Back in any case: a failed copy must not leave a validator down.
                driver.start_node(network_id=str(network.pk), node_id=str(node.pk))
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


def _finish(archive_id: str, **fields: Any) -> None:
    Archive.objects.filter(pk=archive_id).update(status=ArchiveStatus.READY,
                                                 finished_at=timezone.now(), **fields)


def _target(archive: Archive) -> Path:
    from archives.services import archive_path

    return archive_path(archive)


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
        private = crypto.unseal(ident.sealed_private_key)
        path = into / f"{ident.organisation_id}-{ident.member_id}.json"
        path.write_text(json.dumps({"private_key": private.hex(),
                                    "public_key": ident.public_key,
                                    "organisation": ident.organisation_id,
                                    "member": ident.member_id}) + "\n")
        path.chmod(0o600)


def export(run: Run, archive_id: str) -> None:
    archive = Archive.objects.select_related("network").get(pk=archive_id)
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
        size, digest = fmt.write_tar_gz(out, _target(archive), prefix=f"{network.name}/",
                                        first=("README.md",))
    _finish(archive_id, height=height, app_hash=app_hash, size=size, sha256=digest,
            validators=len(copies))
    run.succeed("archive_ready", f"archive ready: height {height}, {size} bytes",
                height=height, size=size)


# --- backup --------------------------------------------------------------------------------


def backup(run: Run, archive_id: str, sealed_passphrase: str) -> None:
    archive = Archive.objects.select_related("network", "tenant").get(pk=archive_id)
    network = archive.network
    if network is None:
        raise StepFailed("not_found", "the network is gone")
    if network.status not in NETWORK_LIVE:
        raise StepFailed("network_not_running", "only a running network is backed up")
    passphrase = crypto.unseal(sealed_passphrase.encode()).decode()
    identities = [{"tenant": str(i.tenant_id), "organisation_id": i.organisation_id,
                   "member_id": i.member_id, "public_key": i.public_key,
                   "private_key": base64.b64encode(crypto.unseal(i.sealed_private_key))
                   .decode()} for i in NetworkIdentity.objects.filter(network=network)]
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
        size, digest, _manifest = fmt.build_backup(
            staging=staging, target=_target(archive), header=header, nodes=copies,
            identities=identities, passphrase=passphrase)
    _finish(archive_id, height=height, app_hash=app_hash, size=size, sha256=digest,
            validators=len(copies))
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


def _set_toml(text: str, section: str, key: str, value: str) -> str:
    from ledger.network import _set_toml as ledger_set_toml

    return ledger_set_toml(text, section, key, value)


def _node_files(opened: fmt.OpenedBackup, index: int) -> dict[str, bytes]:
    home = opened.node_home(index)
    return {rel: (home / rel).read_bytes() for rel in fmt.files_of(home)
            if rel == "node.json" or rel.startswith("cometbft/config/")}


def _store_homes(network: Network, nodes: list[Node], opened: fmt.OpenedBackup) -> None:
    """Node rows get the backup's config and genesis with this network's addresses, and
    the backup's keys sealed with the platform key, as provisioning would have stored."""
    infos = {}
    for node in nodes:
        files = _node_files(opened, node.index)
        infos[node.index] = json.loads(files["node.json"])
    with transaction.atomic():
        for node in nodes:
            files = _node_files(opened, node.index)
            info = {**infos[node.index], "host": node.host, "p2p_port": node.p2p_port,
                    "rpc_port": node.rpc_port, "abci_port": node.abci_port}
            files["node.json"] = (json.dumps(info, indent=2) + "\n").encode()
            peers = ",".join(f"{infos[o.index]['node_id']}@{o.host}:{o.p2p_port}"
                             for o in nodes if o.pk != node.pk)
            cfg = files["cometbft/config/config.toml"].decode()
            for section, key, value in (
                    ("", "proxy_app", f"tcp://127.0.0.1:{node.abci_port}"),
                    ("rpc", "laddr", f"tcp://{node.host}:{node.rpc_port}"),
                    ("p2p", "laddr", f"tcp://{node.host}:{node.p2p_port}"),
                    ("p2p", "persistent_peers", peers)):
                cfg = _set_toml(cfg, section, key, value)
            files["cometbft/config/config.toml"] = cfg.encode()
            NodeKey.objects.filter(node=node).delete()
            for path, content in opened.node_keys(node.index).items():
                NodeKey.objects.create(node=node, path=path, sealed=crypto.seal(content))
                files[path] = content
            node.home_config = {p: base64.b64encode(c).decode() for p, c in files.items()
                                if not homes.is_secret(p)}
            node.validator_pub_key = homes._validator_pub_key(files)
            node.save(update_fields=["home_config", "validator_pub_key", "updated_at"])
        genesis = files.get("cometbft/config/genesis.json")
        if genesis is not None:
            network.genesis = json.loads(genesis)
            network.save(update_fields=["genesis", "updated_at"])
        NetworkIdentity.objects.filter(network=network).delete()
        for ident in opened.keys.get("identities") or []:
            NetworkIdentity.objects.create(
                network=network, tenant=network.tenant,
                organisation_id=ident["organisation_id"], member_id=ident["member_id"],
                public_key=ident["public_key"],
                sealed_private_key=crypto.seal(base64.b64decode(ident["private_key"])))


def restore(run: Run, network_id: str, archive_file: str, sealed_passphrase: str,
            uploaded: bool) -> None:
    network = Network.objects.get(pk=network_id)
    if network.status in NETWORK_LIVE:
        run.succeed("already_running", "already running")
        return
    passphrase = crypto.unseal(sealed_passphrase.encode()).decode()
    driver = driver_for(network)
    with _staging() as tmp:
        try:
            opened = fmt.open_backup(Path(archive_file), passphrase, Path(tmp) / "backup")
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
        Path(archive_file).unlink(missing_ok=True)
    run.succeed("network_restored",
                f"restored: continues from height {height}, now at {max(heights.values())}",
                height=height, now=max(heights.values()))


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
            Path(archive_file).unlink(missing_ok=True)
        return code

    return on_failure
