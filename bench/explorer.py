"""Explorer list and search latency on a real network holding many transactions.

    .venv/bin/python bench/explorer.py [--txs 100000] [--produce-budget-s 900] [--rounds 40]

Starts ONE local validator (CometBFT plus ``python -m ledger node``, generated with
ledger.network like bench/ledger_throughput.py), writes ``--txs`` ``kv.put`` transactions
from one signer (32 concurrent senders, broadcast_tx_sync), and stops producing when
``--produce-budget-s`` has passed (the output then says how many were written: fewer than
asked means the machine could not produce them in time). Production time and rate are
printed first.

Then, in this process, a throw-away control plane database (SQLite in a temporary
directory, migrated) gets one organisation and a network row pointing at the node, and the
explorer's API is called through Django's test client with a signed-in owner, so each
figure is the whole request: URL routing, tenant and role checks, the gateway's node
choice, CometBFT RPC and the explorer's decoding. Measured, ``--rounds`` times each:

- list: ``blocks/?limit=20`` (newest) and ``blocks/?before=<random height>``;
- search: by tx hash, by height, by signer, by chaincode (``search/?q=...&kind=...``); the
  signer and the chaincode match EVERY tx written here (one signer, one chaincode). Those
  two kinds read the explorer's own tx index (``explorer.indexer``), which this script runs
  to completion before measuring (timed and printed) and again every 10 s during the
  rounds, outside the timed requests, as Celery beat would; blocks above the index are
  read from the chain by each search, as in production;
- tx detail and state by prefix (printed, not in the goal).

Then restore, twice:

- at the ledger level (``ledger_restore_s``): the validator's home packed with tar, unpacked
  into its place and started, until a block commits on the backup's app hash;
- through the platform (``restore_s``): the stopped validator's home is written as a
  platform backup (``archives.fmt.build_backup``: manifest with every file's SHA-256, keys
  sealed with a passphrase; ``platform_pack_s``), stored as a ready backup of the
  organisation (local store), the source network row marked deleted, and then restored the
  way a user does: ``POST /api/v1/restores/`` (passphrase check, checks, a new network and a
  ``network.restore`` operation) and the operation's task run in this process
  (``archives.tasks.restore_task``: unpack and hash every file, keys re-sealed, nodes
  planned, ``config.toml`` made, the local driver importing the data and starting the node)
  until the operation succeeds, which it does once the new network commits a block above
  the backup's height. The restored network is deleted afterwards.

The last line is the summary: ``txs=... list_p50_ms=... list_p95_ms=... search_p50_ms=...
search_p95_ms=... backup_s=... ledger_restore_s=... platform_pack_s=... restore_s=...``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from ledger_throughput import drive, machine, percentile  # noqa: E402

from ledger.network import create_operator_key, generate_network, local_nodes  # noqa: E402
from ledger.node import start_background, stop_background, wait_ready  # noqa: E402

CHAIN_ID = "explorer-bench"
INDEX_EVERY_S = 10.0  # BAAS_EXPLORER_INDEX_SECONDS' default
BATCH = 5000  # txs signed and sent per round of production


def produce(url: str, key: bytes, wanted: int, budget_s: float) -> tuple[int, float, list[str]]:
    """Write up to ``wanted`` kv.put txs within ``budget_s``; returns (committed, seconds,
    a sample of tx hashes)."""
    import hashlib

    from ledger.tx import Signer, build_tx

    signer = Signer.from_private_bytes(key)
    committed, began, sample = 0, time.perf_counter(), []
    sent = 0
    while sent < wanted and time.perf_counter() - began < budget_s:
        size = min(BATCH, wanted - sent)
        txs = [build_tx(signer=signer, chain_id=CHAIN_ID, chaincode="kv", function="put",
                        args=[f"key{sent + i:06d}", f"value{sent + i}"]) for i in range(size)]
        done, _rejected, _lat, _elapsed, _blocks = asyncio.run(drive([url], txs, 32))
        committed += done
        sent += size
        sample += [hashlib.sha256(t).hexdigest() for t in random.sample(txs, min(50, size))]
        print(f"  produced {committed} txs in {time.perf_counter() - began:.0f} s", flush=True)
    return committed, time.perf_counter() - began, sample


def control_plane(tmp: Path, rpc_url: str):
    """A migrated throw-away database with an owner and a network row for the node."""
    os.environ["DATABASE_URL"] = f"sqlite:///{tmp / 'bench.sqlite3'}"
    # Node keys, backups and the local driver's nodes of the platform restore stay in tmp.
    os.environ["BAAS_VAR_DIR"] = str(tmp / "var")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "baas.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    import logging

    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per RPC call otherwise
    from rest_framework.test import APIClient

    from deploy.models import Network, Node
    from tenants.models import Membership, Tenant, User

    user = User.objects.create(email="bench@example.test")
    tenant = Tenant.objects.create(name="Bench", slug="bench")
    Membership.objects.create(user=user, tenant=tenant, role="owner")
    from deploy.drivers.runtimes import current_version

    network = Network.objects.create(tenant=tenant, name="bench", chain_id=CHAIN_ID,
                                     validator_count=1, driver="local", status="running",
                                     ledger_version=current_version())
    Node.objects.create(network=network, tenant=tenant, index=0, moniker="node0",
                        rpc_url=rpc_url, status="running", health="healthy")
    client = APIClient()
    client.force_authenticate(user=user)
    client.credentials(HTTP_X_TENANT="bench")
    return client, f"/api/v1/networks/{network.pk}/explorer/", network


def timed(client, url: str, params: dict | None = None) -> float:
    began = time.perf_counter()
    res = client.get(url, params or {})
    elapsed = (time.perf_counter() - began) * 1000
    if res.status_code != 200:
        raise RuntimeError(f"{url} {params}: {res.status_code} {res.content[:300]!r}")
    return elapsed


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--txs", type=int, default=100_000, help="transactions to write")
    ap.add_argument("--produce-budget-s", type=float, default=900.0,
                    help="stop producing after this many seconds")
    ap.add_argument("--rounds", type=int, default=40, help="requests per measured call")
    args = ap.parse_args()
    print(machine())
    with tempfile.TemporaryDirectory(prefix="explorer-bench-") as tmp_name:
        tmp = Path(tmp_name)
        key, public_hex = create_operator_key(tmp)
        nodes = local_nodes(1)
        from ledger.cli import build_app_state

        homes = generate_network(chain_id=CHAIN_ID, nodes=nodes, out_dir=tmp / "net",
                                 app_state=build_app_state(public_hex))
        try:
            start_background(homes[0])
            url = f"http://127.0.0.1:{nodes[0].rpc_port}"
            wait_ready(url, timeout=60)
            count, seconds, sample = produce(url, key, args.txs, args.produce_budget_s)
            rate = count / seconds if seconds else 0.0
            print(f"production: {count} txs in {seconds:.1f} s ({rate:.0f} tx/s), one "
                  "validator, one signer, 32 senders", flush=True)
            if count < args.txs:
                print(f"NOTE: {count} of the {args.txs} transactions asked for were written "
                      f"within the {args.produce_budget_s:.0f} s budget; the figures below "
                      f"are for {count}.", flush=True)
            client, base, network = control_plane(tmp, url)
            from django.conf import settings

            from explorer import indexer
            from explorer.models import IndexedTx

            began = time.perf_counter()
            done = indexer.index_to_latest(network)
            index_s = time.perf_counter() - began
            indexed = IndexedTx.objects.filter(network=network).count()
            print(f"index: the explorer's indexer ran to completion before measuring: "
                  f"{indexed} txs of {done.height} blocks in {index_s:.1f} s "
                  f"({settings.BAAS_EXPLORER_INDEX_BLOCKS} blocks a pass); during the "
                  f"rounds it runs again every {INDEX_EVERY_S:.0f} s (as Celery beat "
                  "would), outside the timed requests", flush=True)
            last_index = time.monotonic()
            latest = client.get(base + "blocks/").json()["latest_height"]
            signer = client.get(base + f"txs/{sample[0]}/").json()["signer"]["public_key"]
            lists, searches, other = [], [], []
            per_kind: dict[str, list[float]] = {}
            sources: set[str] = set()
            for _ in range(args.rounds):
                if time.monotonic() - last_index >= INDEX_EVERY_S:
                    indexer.index_network(network)
                    last_index = time.monotonic()
                lists.append(timed(client, base + "blocks/", {"limit": 20}))
                lists.append(timed(client, base + "blocks/",
                                   {"before": random.randint(2, latest), "limit": 20}))
                tx_hash = random.choice(sample)
                height = client.get(base + f"txs/{tx_hash}/").json()["height"]
                for kind, q in (("hash", tx_hash), ("height", str(height)),
                                ("signer", signer), ("chaincode", "kv")):
                    ms = timed(client, base + "search/", {"q": q, "kind": kind})
                    if kind in ("signer", "chaincode"):
                        sources.add(client.get(base + "search/",
                                               {"q": q, "kind": kind}).json()["source"])
                    searches.append(ms)
                    per_kind.setdefault(kind, []).append(ms)
                other.append(timed(client, base + f"txs/{tx_hash}/"))
                prefix = f"key{random.randint(0, max(0, count - 1)):06d}"[:7]
                other.append(timed(client, base + "state/kv/", {"prefix": prefix}))
            for kind, values in per_kind.items():
                print(f"search by {kind}: p50={percentile(values, 0.5):.1f} ms "
                      f"p95={percentile(values, 0.95):.1f} ms")
            print(f"signer and chaincode search answered from: {', '.join(sorted(sources))}")
            # For comparison (not in the summary): the same signer search on CometBFT's
            # tx_search, the path used before the index (and still the fallback).
            from explorer import selectors

            old = []
            for _ in range(min(args.rounds, 10)):
                began = time.perf_counter()
                selectors._tx_search(network, network.tenant, f"tx.signer='{signer}'")
                old.append((time.perf_counter() - began) * 1000)
            print(f"for comparison, search by signer through tx_search (no index, "
                  f"{min(args.rounds, 10)} rounds, selector only): "
                  f"p50={percentile(old, 0.5):.1f} ms p95={percentile(old, 0.95):.1f} ms")
            print(f"tx detail + state page: p50={percentile(other, 0.5):.1f} ms "
                  f"p95={percentile(other, 0.95):.1f} ms")
            print(f"conditions: {count} txs, chain height {latest}, {args.rounds} rounds, "
                  "requests through Django's test client in this process (no HTTP server), "
                  "one validator on this machine's loopback")
            backup_s, ledger_restore_s, size = backup_and_restore(homes[0], url, tmp)
            print(f"ledger-level backup: the validator's home (chain data and app state at "
                  f"one height) packed to {size / 2**20:.1f} MiB in {backup_s:.1f} s; "
                  f"restore: unpacked into a new home and started, until a new block "
                  f"commits on the backup's app hash: {ledger_restore_s:.1f} s", flush=True)
            pack_s, restore_s, psize, pheight = platform_restore(homes[0], client, network,
                                                                 tmp)
            print(f"platform backup file: {psize / 2**20:.1f} MiB at height {pheight}, "
                  f"written in {pack_s:.1f} s; platform restore (POST /api/v1/restores/ "
                  f"until the network.restore operation succeeded, its new network "
                  f"committing above height {pheight}): {restore_s:.1f} s")
            print(f"txs={count} list_p50_ms={percentile(lists, 0.5):.1f} "
                  f"list_p95_ms={percentile(lists, 0.95):.1f} "
                  f"search_p50_ms={percentile(searches, 0.5):.1f} "
                  f"search_p95_ms={percentile(searches, 0.95):.1f} "
                  f"backup_s={backup_s:.1f} ledger_restore_s={ledger_restore_s:.1f} "
                  f"platform_pack_s={pack_s:.1f} restore_s={restore_s:.1f}")
        finally:
            for home in homes:
                stop_background(home)
    return 0


def backup_and_restore(home: Path, url: str, tmp: Path) -> tuple[float, float, int]:
    """Stop the validator, pack its home, unpack it elsewhere, start it from there and wait
    for the next block: its header must carry the app hash the backup's state has."""
    import shutil
    import sqlite3
    import tarfile

    from ledger.client import LedgerClient
    from ledger.node import node_pid

    stop_background(home)
    began = time.perf_counter()
    archive = tmp / "backup.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(home, arcname="home")
    backup_s = time.perf_counter() - began
    # What the backup holds: the app's last committed height and its app hash.
    state = next(home.rglob("state.sqlite"))
    with sqlite3.connect(f"{state.as_uri()}?mode=ro", uri=True) as db:
        height = int(db.execute("SELECT v FROM meta WHERE k = 'height'").fetchone()[0])
        app_hash = db.execute("SELECT app_hash FROM blocks WHERE height = ?",
                              (height,)).fetchone()[0].hex().upper()
    shutil.move(str(home), tmp / "original-home")  # the restored node takes its place
    began = time.perf_counter()
    with tarfile.open(archive, "r:gz") as tar:
        tar.extractall(tmp / "restored", filter="data")
    shutil.move(str(tmp / "restored" / "home"), home)
    start_background(home)
    wait_ready(url, timeout=120, pid=node_pid(home))
    with LedgerClient(url, timeout=30) as client:
        deadline = time.monotonic() + 120
        while client.height() <= height:
            if time.monotonic() > deadline:
                raise RuntimeError("the restored node made no new block")
            time.sleep(0.05)
        restore_s = time.perf_counter() - began
        recorded = client.app_hash_at(height).upper()
    if recorded != app_hash:
        raise RuntimeError(f"the restored chain continued from app hash {recorded}, "
                           f"the backup holds {app_hash}")
    return backup_s, restore_s, archive.stat().st_size


def platform_restore(home: Path, client, network, tmp: Path) -> tuple[float, float, int, int]:
    """The stopped validator's home as a platform backup, restored through the platform's
    restore endpoint and operation. Returns (pack seconds, restore seconds, backup size,
    backup height)."""
    from archives import fmt, services, workflows
    from archives.models import Archive
    from baas.models import Operation
    from deploy import homes as platform_homes
    from deploy.drivers import driver_for
    from deploy.models import Network

    stop_background(home)
    height, app_hash = workflows._app_state(home)
    passphrase = "bench backup passphrase"
    archive = Archive.objects.create(
        tenant=network.tenant, network=network, kind="backup", network_name=network.name,
        chain_id=network.chain_id, ledger_version=network.ledger_version, validators=1,
        height=height, app_hash=app_hash, store="local")
    header = {"install_id": platform_homes.install_id(), "tenant_id": str(network.tenant_id),
              "network_id": str(network.pk), "network_name": network.name,
              "chain_id": network.chain_id, "ledger_version": network.ledger_version,
              "driver": "local", "public_access": False, "height": height,
              "app_hash": app_hash, "created_at": "bench"}
    began = time.perf_counter()
    staging = tmp / "platform-staging"
    staging.mkdir()
    size, digest, _manifest = fmt.build_backup(
        staging=staging, target=services.archive_path(archive), header=header,
        nodes=[fmt.BackupNode(index=0, moniker="node0", home=home, height=height)],
        identities=[], passphrase=passphrase)
    pack_s = time.perf_counter() - began
    Archive.objects.filter(pk=archive.pk).update(status="ready", size=size, sha256=digest)
    # The source network must be gone before its backup may be restored (double signing).
    Network.objects.filter(pk=network.pk).update(status="deleted", desired_state="deleted")
    queued: list = []
    real_enqueue = services.enqueue_after_commit
    services.enqueue_after_commit = lambda task, *a, **k: queued.append((task, a, k))
    try:
        began = time.perf_counter()
        res = client.post("/api/v1/restores/", {"backup": str(archive.pk), "name": "restored",
                                                "passphrase": passphrase}, format="json")
        if res.status_code != 202:
            raise RuntimeError(f"restore refused: {res.status_code} {res.content[:300]!r}")
        for task, args, kwargs in queued:  # the worker's part, in this process
            task(*args, **kwargs)
        restore_s = time.perf_counter() - began
    finally:
        services.enqueue_after_commit = real_enqueue
    op = Operation.objects.get(pk=res.json()["operation"]["id"])
    restored = Network.objects.get(pk=res.json()["network"]["id"])
    try:
        if op.state != "succeeded":
            raise RuntimeError(f"platform restore failed: {op.error_code} {op.error_message}")
        rpc_url = restored.nodes.get().rpc_url
        from ledger.client import LedgerClient

        with LedgerClient(rpc_url, timeout=30) as ledger_client:
            recorded = ledger_client.app_hash_at(height).upper()
        if recorded != app_hash.upper():
            raise RuntimeError(f"the restored network continued from app hash {recorded}, "
                               f"the backup holds {app_hash}")
    finally:
        driver_for(restored).delete_network(network_id=str(restored.pk))
    return pack_s, restore_s, size, height


if __name__ == "__main__":
    sys.exit(main())
