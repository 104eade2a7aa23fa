"""Collision-free loopback ports for local nodes.

A port is handed out only if (1) no network planned under the same nodes dir holds it, and
(2) nothing listens on it right now (bind test). The choice happens under an exclusive file
lock, so two Celery workers planning two networks at once never pick the same port. Ports
come from below Linux's ephemeral range (32768+) so outgoing connections cannot squat them.
"""

from __future__ import annotations

import errno
import random
import socket

DEFAULT_RANGE = (20000, 32000)


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # SO_REUSEADDR like CometBFT's and asyncio's listeners: connections of a stopped
        # node lingering in TIME_WAIT do not block a restart, a live listener does.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def pick_ports(
    count: int,
    *,
    reserved: set[int],
    port_range: tuple[int, int] = DEFAULT_RANGE,
    host: str = "127.0.0.1",
    rng: random.Random | None = None,
) -> list[int] | None:
    """``count`` distinct free ports outside ``reserved``, or None if the range is exhausted."""
    rng = rng or random.SystemRandom()
    low, high = port_range
    candidates = [p for p in range(low, high) if p not in reserved]
    rng.shuffle(candidates)
    chosen: list[int] = []
    for port in candidates:
        if port_is_free(port, host):
            chosen.append(port)
            if len(chosen) == count:
                return chosen
    return None
