"""Small line charts as inline SVG, drawn on the server: no chart library, no script, and
nothing the page's Content-Security-Policy would have to allow (styles come from the
portal's stylesheet through classes)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from monitor.selectors import Point

WIDTH, HEIGHT, PAD = 240.0, 48.0, 2.0


@dataclass(frozen=True)
class Sparkline:
    segments: list[str]  # polyline "points" attributes; a gap in the data splits the line
    top: float  # the value the chart's top edge stands for
    width: float = WIDTH
    height: float = HEIGHT


def sparkline(points: list[Point], series: str, start: datetime, end: datetime) -> Sparkline:
    values = [p.values[series] for p in points]
    top = max((v for v in values if v is not None), default=0.0)
    scale = top if top > 0 else 1.0
    span = (end - start).total_seconds() or 1.0
    segments: list[str] = []
    current: list[str] = []
    for point, value in zip(points, values, strict=True):
        if value is None:
            if current:
                segments.append(" ".join(current))
            current = []
            continue
        x = PAD + (WIDTH - 2 * PAD) * min(1.0, max(0.0, (point.at - start).total_seconds()
                                                     / span))
        y = HEIGHT - PAD - (HEIGHT - 2 * PAD) * (value / scale)
        current.append(f"{x:.1f},{y:.1f}")
    if current:
        segments.append(" ".join(current))
    return Sparkline(segments=segments, top=top)
