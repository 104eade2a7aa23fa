"""Fill the explorer's transaction index (``explorer.models.IndexedTx``) from committed
blocks, for every live network.

One pass per network reads from its cursor + 1 up to the latest height, at most
``BAAS_EXPLORER_INDEX_BLOCKS`` blocks: the block headers first (``/blockchain``, 20 per
call, with ``num_txs``), then ``block`` and ``block_results`` only for blocks holding
transactions. Each tx is decoded with ``ledger.tx.decode_tx(verify=False)`` (the chain
checked the signature; a tx the ledger's format does not decode is indexed with empty
signer, chaincode and function). Rows and the cursor are written in one transaction, under
``select_for_update`` of the cursor, so two passes never both write the same blocks and a
pass that dies half-way leaves nothing half-written; the unique (network, height, index)
makes a repeated write add nothing anyway.

Reads go through ``deploy.gateway.with_failover``, as the monitor's sampler does; a network
that does not answer is skipped and never stops the others. A chain that went back (latest
height below the cursor, or a different block at the cursor's height: a restore) has its
rows dropped and is indexed again from height 1.
"""

from __future__ import annotations

import base64
import logging
import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils.dateparse import parse_datetime

from deploy import gateway
from deploy.choices import NETWORK_LIVE, NetworkStatus
from deploy.models import Network
from explorer.models import IndexCursor, IndexedTx

logger = logging.getLogger(__name__)

PAGE = 20  # CometBFT's /blockchain returns at most 20 headers per call
LOCK_KEY = "explorer:index:lock"
LOCK_TTL_S = 600


@dataclass(frozen=True)
class Pass:
    """What one pass over one network did."""

    added: int = 0  # rows handed to the database (one already there is skipped by it)
    height: int = 0  # the cursor after the pass
    latest: int = 0  # the chain's latest height as the node said
    reset: bool = False  # the chain went back: the network's rows were dropped

    @property
    def caught_up(self) -> bool:
        return not self.reset and self.height >= self.latest


def _block_time(text: Any) -> Any:
    # CometBFT writes nanoseconds ("...T01:02:03.123456789Z"); Python keeps microseconds.
    if not isinstance(text, str):
        return None
    head, dot, rest = text.partition(".")
    if dot:
        digits = "".join(c for c in rest if c.isdigit())[:6]
        text = f"{head}.{digits}Z"
    return parse_datetime(text)


def read_metas(client: Any, low: int, high: int) -> list[dict[str, Any]]:
    """Block headers ``low..high`` (ascending), 20 per call."""
    found: list[dict[str, Any]] = []
    while low <= high:
        top = min(high, low + PAGE - 1)
        page = client.rpc("blockchain", {"minHeight": str(low), "maxHeight": str(top)})
        found += page.get("block_metas", [])
        low = top + 1
    return sorted(found, key=lambda m: int(m["header"]["height"]))


def decode_block(client: Any, height: int) -> list[dict[str, Any]]:
    """The transactions of block ``height`` as index fields (no network, no time)."""
    from ledger.tx import decode_tx, tx_hash

    raw_txs = client.block(height)["block"].get("data", {}).get("txs") or []
    results = client.block_results(height).get("txs_results") or []
    rows = []
    for i, raw_b64 in enumerate(raw_txs):
        raw = base64.b64decode(raw_b64)
        result = results[i] if i < len(results) else {}
        signer = chaincode = function = ""
        try:
            tx = decode_tx(raw, verify=False)
            signer, chaincode, function = tx.signer.lower(), tx.chaincode, tx.function
        except Exception:  # noqa: BLE001 -- a foreign tx format is indexed, undecoded
            pass
        rows.append({"height": height, "index": i, "hash": tx_hash(raw).lower(),
                     "signer": signer, "chaincode": chaincode, "function": function,
                     "code": int(result.get("code", 0) or 0),
                     "gas_used": int(result.get("gas_used", 0) or 0)})
    return rows


def _read_chain(client: Any, start: int, start_hash: str,
                max_blocks: int) -> tuple[int, bool, int, str, list[dict[str, Any]]]:
    """(latest, went_back, top, top_hash, rows) for blocks ``start+1..top``."""
    latest = client.height()
    if latest < start:
        # A node behind the cursor (lagging by a block, just restarted) says nothing about
        # the chain going back: skip the pass. A chain that really went back (a restore)
        # is seen once it passes the cursor's height with another block there.
        return latest, False, start, start_hash, []
    top = min(latest, start + max_blocks)
    # The cursor's own block is read again: a different hash there is another chain.
    metas = read_metas(client, max(1, start), top) if top >= 1 else []
    if start and metas and int(metas[0]["header"]["height"]) == start:
        if start_hash and metas[0]["block_id"]["hash"] != start_hash:
            return latest, True, start, start_hash, []
        metas = metas[1:]
    rows: list[dict[str, Any]] = []
    top_hash = start_hash
    for meta in metas:
        height = int(meta["header"]["height"])
        top_hash = meta["block_id"]["hash"]
        if int(meta.get("num_txs", 0) or 0):
            when = _block_time(meta["header"].get("time"))
            rows += [{**row, "block_time": when} for row in decode_block(client, height)]
    return latest, False, top, top_hash, rows


def index_network(network: Network, *, max_blocks: int | None = None) -> Pass:
    """One pass over ``network``: index up to ``max_blocks`` blocks above its cursor."""
    max_blocks = max_blocks or settings.BAAS_EXPLORER_INDEX_BLOCKS
    cursor, _ = IndexCursor.objects.get_or_create(network=network)
    start, start_hash = cursor.height, cursor.block_hash
    latest, went_back, top, top_hash, rows = gateway.with_failover(
        network, lambda client: _read_chain(client, start, start_hash, max_blocks))
    with transaction.atomic():
        cursor = IndexCursor.objects.select_for_update().get(network=network)
        if (cursor.height, cursor.block_hash) != (start, start_hash):
            # Another pass moved the cursor meanwhile: its rows stand, these are dropped.
            return Pass(height=cursor.height, latest=latest)
        if went_back:
            IndexedTx.objects.filter(network=network).delete()
            cursor.height, cursor.block_hash = 0, ""
            cursor.save(update_fields=["height", "block_hash", "updated_at"])
            logger.info("explorer: %s went back to %s (indexed to %s): index reset",
                        network.pk, latest, start)
            return Pass(height=0, latest=latest, reset=True)
        made = IndexedTx.objects.bulk_create(
            [IndexedTx(network=network, **row) for row in rows],
            batch_size=500, ignore_conflicts=True)
        cursor.height, cursor.block_hash = top, top_hash
        cursor.save(update_fields=["height", "block_hash", "updated_at"])
    return Pass(added=len(made), height=top, latest=latest)


def index_all() -> dict[str, int]:
    """One pass over every live network; one that does not answer is skipped and never
    stops the others. Rows of deleted networks are dropped (a network row that is removed
    takes its rows with it: CASCADE)."""
    token = uuid.uuid4().hex
    if not cache.add(LOCK_KEY, token, timeout=LOCK_TTL_S):
        return {"skipped_busy": 1}
    counts = {"indexed": 0, "txs": 0, "reset": 0, "unreachable": 0}
    try:
        for network in Network.objects.filter(status__in=NETWORK_LIVE):
            try:
                done = index_network(network)
            except Exception as exc:  # noqa: BLE001 -- one network must not stop the pass
                logger.info("explorer: %s not indexed: %s", network.pk, exc)
                counts["unreachable"] += 1
                continue
            counts["indexed"] += 1
            counts["txs"] += done.added
            counts["reset"] += int(done.reset)
        deleted = Network.objects.filter(status=NetworkStatus.DELETED)
        IndexedTx.objects.filter(network__in=deleted).delete()
        IndexCursor.objects.filter(network__in=deleted).delete()
    finally:
        if cache.get(LOCK_KEY) == token:
            cache.delete(LOCK_KEY)
    return counts


def index_to_latest(network: Network, *, max_passes: int = 10_000) -> Pass:
    """Passes over one network until its cursor reaches the height the node reported at
    the start of the last pass (the benchmark and tests; the task does one pass a run)."""
    done = Pass()
    for _ in range(max_passes):
        done = index_network(network)
        if done.caught_up:
            return done
    return done
