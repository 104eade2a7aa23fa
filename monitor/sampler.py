"""Sampling pass: ask one node of every live network where its chain stands.

Reads go through ``deploy.gateway.with_failover`` (the healthiest node first, the next on
connection trouble), the same path tenants' gateway reads take. Transactions are counted
from the block headers (``/blockchain``, 20 per call) between the previous sample and now;
a gap longer than ``MAX_BLOCKS_COUNTED`` (the sampler was down for a while) is left
uncounted rather than estimated.
"""

from __future__ import annotations

import logging
import time
import uuid
from datetime import datetime, timedelta
from typing import Any

from django.core.cache import cache
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from deploy import gateway
from deploy.choices import NETWORK_LIVE, NodeHealth, NodeStatus
from deploy.models import Network
from monitor.models import NetworkSample

logger = logging.getLogger(__name__)

MAX_BLOCKS_COUNTED = 600  # 30 header pages: ten minutes of blocks at one a second
PAGE = 20  # CometBFT's /blockchain returns at most 20 headers per call
RETENTION = timedelta(hours=25)  # the portal draws the last day
LOCK_KEY = "monitor:sample:lock"
LOCK_TTL_S = 300
PASS_BUDGET_S = 200.0


def _block_time(text: Any) -> datetime | None:
    # CometBFT writes nanoseconds ("...T01:02:03.123456789Z"); Python keeps microseconds.
    if not isinstance(text, str):
        return None
    head, dot, rest = text.partition(".")
    if dot:
        digits = "".join(c for c in rest if c.isdigit())[:6]
        text = f"{head}.{digits}Z"
    return parse_datetime(text)


def _count_txs(client: Any, low: int, high: int) -> int:
    total = 0
    while low <= high:
        top = min(high, low + PAGE - 1)
        page = client.rpc("blockchain", {"minHeight": str(low), "maxHeight": str(top)})
        total += sum(int(meta.get("num_txs", 0)) for meta in page.get("block_metas", []))
        low = top + 1
    return total


def _chain_now(network: Network, previous: NetworkSample | None) -> tuple[int, Any, int | None]:
    def call(client: Any) -> tuple[int, Any, int | None]:
        sync = client.rpc("status")["sync_info"]
        height = int(sync["latest_block_height"])
        txs = None
        if previous is not None and previous.height <= height \
                and height - previous.height <= MAX_BLOCKS_COUNTED:
            txs = _count_txs(client, previous.height + 1, height)
        return height, _block_time(sync.get("latest_block_time")), txs

    return gateway.with_failover(network, call)


def _disk(network: Network) -> tuple[int | None, str]:
    """The network's disk as its driver tells it: bytes and what they are (``used`` for
    local homes and Docker volumes, ``requested`` for Kubernetes claims), or no figure
    (None, "") where the driver cannot tell or does not answer."""
    from deploy.drivers import DriverError, driver_for

    try:
        usage = driver_for(network).disk_usage(network_id=str(uuid.UUID(str(network.pk))))
    except DriverError as exc:
        logger.info("monitor: no disk figure for %s: %s", network.pk, exc)
        return None, ""
    if usage is None:
        return None, ""
    return usage.bytes, usage.kind


def sample_network(network: Network) -> NetworkSample:
    previous = (NetworkSample.objects.filter(network=network).order_by("-taken_at").first())
    height, block_time, txs = _chain_now(network, previous)
    nodes = list(network.nodes.exclude(status=NodeStatus.DELETED).values_list("health",
                                                                                flat=True))
    disk_bytes, disk_kind = _disk(network)
    return NetworkSample.objects.create(
        network=network, taken_at=timezone.now(), height=height, block_time=block_time,
        txs=txs, validators=len(nodes),
        validators_up=sum(1 for health in nodes if health == NodeHealth.HEALTHY),
        disk_bytes=disk_bytes, disk_kind=disk_kind)


def sample_all() -> dict[str, int]:
    """One pass over every live network; one that does not answer is skipped (its chart
    shows the gap), and never stops the others."""
    token = uuid.uuid4().hex
    if not cache.add(LOCK_KEY, token, timeout=LOCK_TTL_S):
        return {"skipped_busy": 1}
    counts = {"sampled": 0, "unreachable": 0, "skipped_late": 0}
    started = time.monotonic()
    try:
        for network in Network.objects.filter(status__in=NETWORK_LIVE).order_by("?"):
            # Stop well inside the lock's lifetime: a pass still running when the lock
            # expires would overlap the next one and count the same blocks twice. The
            # random order gives networks left out now their turn in another pass.
            if time.monotonic() - started > PASS_BUDGET_S:
                counts["skipped_late"] += 1
                continue
            try:
                sample_network(network)
                counts["sampled"] += 1
            except Exception as exc:  # noqa: BLE001 -- one network must not stop the pass
                logger.info("monitor: %s did not answer: %s", network.pk, exc)
                counts["unreachable"] += 1
        NetworkSample.objects.filter(taken_at__lt=timezone.now() - RETENTION).delete()
    finally:
        if cache.get(LOCK_KEY) == token:
            cache.delete(LOCK_KEY)
    return counts
