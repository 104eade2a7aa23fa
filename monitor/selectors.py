"""Figures over a window, worked out from consecutive samples.

Each pair of consecutive samples gives one interval's rates; over a day the intervals are
averaged into ``POINTS`` buckets so a chart stays a few hundred bytes. An interval without
a figure (no block times, transactions uncounted) is a gap, never a zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from deploy.models import Network
from monitor.models import NetworkSample

WINDOWS = {"1h": timedelta(hours=1), "1d": timedelta(days=1)}
POINTS = 60
SERIES = ("blocks_per_min", "tx_per_s", "block_interval_s", "validators_up", "disk_bytes")


@dataclass(frozen=True)
class Point:
    at: datetime
    values: dict[str, float | None]


def _interval(a: NetworkSample, b: NetworkSample) -> dict[str, float | None]:
    seconds = (b.taken_at - a.taken_at).total_seconds()
    blocks = b.height - a.height
    chain_seconds = ((b.block_time - a.block_time).total_seconds()
                     if a.block_time and b.block_time else None)
    return {
        "blocks_per_min": blocks * 60 / seconds if seconds > 0 and blocks >= 0 else None,
        "tx_per_s": (b.txs / chain_seconds
                     if b.txs is not None and chain_seconds and chain_seconds > 0
                     else (0.0 if b.txs == 0 else None)),
        # Block time to block time: how long one block took to commit on average.
        "block_interval_s": (chain_seconds / blocks
                             if chain_seconds is not None and blocks > 0 else None),
        "validators_up": float(b.validators_up),
        "disk_bytes": float(b.disk_bytes) if b.disk_bytes is not None else None,
    }


def _bucketed(points: list[Point], start: datetime, span: timedelta) -> list[Point]:
    width = span / POINTS
    buckets: list[list[Point]] = [[] for _ in range(POINTS)]
    for point in points:
        index = min(POINTS - 1, int((point.at - start) / width))
        buckets[index].append(point)
    merged = []
    for index, bucket in enumerate(buckets):
        if not bucket:
            continue
        values: dict[str, float | None] = {}
        for name in SERIES:
            known = [p.values[name] for p in bucket if p.values[name] is not None]
            values[name] = sum(known) / len(known) if known else None
        merged.append(Point(at=start + width * (index + 1), values=values))
    return merged


def activity(*, network: Network, window: str) -> dict[str, Any]:
    """``window`` is a key of ``WINDOWS`` (checked by the caller)."""
    span = WINDOWS[window]
    start = timezone.now() - span
    samples = list(NetworkSample.objects.filter(network=network, taken_at__gte=start)
                   .order_by("taken_at"))
    points = [Point(at=b.taken_at, values=_interval(a, b))
              for a, b in zip(samples, samples[1:], strict=False)]
    if len(points) > POINTS:
        points = _bucketed(points, start, span)
    latest = samples[-1] if samples else None
    # What the disk figures are, as the latest sample with one says ("" when none has).
    disk_kind = next((s.disk_kind for s in reversed(samples) if s.disk_bytes is not None), "")
    return {
        "disk_kind": disk_kind,
        "window": window,
        "start": start,
        "end": start + span,
        "points": points,
        "latest": latest,
        "last": points[-1].values if points else dict.fromkeys(SERIES),
    }
