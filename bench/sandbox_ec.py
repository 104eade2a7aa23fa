"""Calibration of the ``ctx.ec`` host calls (``ledger/ec_host.py``) against the clock.

    .venv/bin/python bench/sandbox_ec.py [--repeat 300]

Calls every operation of ``ctx.ec`` on a host ``Context`` (as chaincode reaches it, minus
the interpreter's own call step) with arguments in their worst shape: points as hex that
must be decoded, full-size scalars, the largest lists the host accepts (256 points to add,
64 pairs in a linear combination, 256 transcript parts, 64 KiB of transcript). Each line
gives the wall time of one call, the steps charged and the microseconds per step; the cost
model's own operations run at roughly 0.3-0.45 us a step (``bench/sandbox_cost.py``
baselines), and the costs in ``ledger/ec_host.py`` are set so that no operation here runs
slower than about 0.45 us a step. The last line is a ``key=value`` summary.

Wall-clock figures depend on the machine and its load: tests never assert them.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.sandbox_cost import machine  # noqa: E402
from ledger import ec  # noqa: E402
from ledger.contract import Caller, Context  # noqa: E402
from ledger.sandbox import Meter  # noqa: E402


def scalar(i: int) -> int:
    """A deterministic full-size scalar."""
    return int.from_bytes(hashlib.sha256(f"bench-ec-{i}".encode()).digest(), "big") % ec.ORDER


def point(i: int) -> str:
    return ec.base_mul(scalar(i)).hex()


def timed(repeat: int, call: Callable[[Context], Any]) -> tuple[float, int]:
    """(seconds per call, steps per call), best of three rounds."""
    best, steps = float("inf"), 0
    for _ in range(3):
        meter = Meter(10**12)
        ctx = Context(chaincode="bench", reader={}, caller=Caller(public_key=""),
                      block_height=1, block_time=1, tx_hash="", meter=meter, writable=False)
        began = time.perf_counter()
        for _ in range(repeat):
            call(ctx)
        best = min(best, (time.perf_counter() - began) / repeat)
        steps = meter.steps // repeat
    return best, steps


def cases() -> dict[str, tuple[Callable[[Context], Any], int]]:
    """name -> (call, divisor of --repeat)."""
    p, q = point(1), point(2)
    k = scalar(3)
    k_hex = ec.scalar_hex(k)
    many = [point(i) for i in range(256)]
    pairs = [[-scalar(i), many[i]] for i in range(64)]
    range_parts = ["a" * 64, "did:baas:bench:" + "a" * 26, "q0/o1", p, q, 0, 1,
                   *many[:4]]  # a 0/1 range proof's challenge: eh, voter, label, A, B, lo, hi
    ints = [scalar(i) for i in range(256)]
    shorts = ["x"] * 256
    big = ["y" * (64 * 1024 - 32)]
    return {
        "is_point": (lambda c: c.ec.is_point(p), 1),
        "is_scalar": (lambda c: c.ec.is_scalar(k_hex), 1),
        "scalar": (lambda c: c.ec.scalar(k_hex), 1),
        "add_2": (lambda c: c.ec.add(p, q), 1),
        "add_256": (lambda c: c.ec.add(*many), 10),
        "neg": (lambda c: c.ec.neg(p), 1),
        "sub": (lambda c: c.ec.sub(p, q), 1),
        "mul": (lambda c: c.ec.mul(k, p), 1),
        "base_mul": (lambda c: c.ec.base_mul(k), 1),
        "small_2^40": (lambda c: c.ec.small(1 << 40), 1),
        "lincomb_2": (lambda c: c.ec.lincomb(pairs[:2]), 1),
        "lincomb_64": (lambda c: c.ec.lincomb(pairs), 10),
        "challenge_range_0_1": (lambda c: c.ec.challenge("baas-vote/v1/range", range_parts),
                                1),
        "challenge_256_ints": (lambda c: c.ec.challenge("baas-vote/v1/x", ints), 4),
        "challenge_256_chars": (lambda c: c.ec.challenge("baas-vote/v1/x", shorts), 4),
        "transcript_64k": (lambda c: c.ec.transcript("baas-vote/v1/x", big), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=300)
    repeat = parser.parse_args().repeat
    print(machine())
    worst, worst_name = 0.0, ""
    summary = []
    for name, (call, divisor) in cases().items():
        seconds, steps = timed(max(1, repeat // divisor), call)
        per_step = seconds * 1e6 / steps
        if per_step > worst:
            worst, worst_name = per_step, name
        print(f"{name:22} {seconds * 1e6:9.1f} us  {steps:6} steps  {per_step:.3f} us/step")
        summary.append(f"{name}_us_per_step={per_step:.3f}")
    summary += [f"worst_us_per_step={worst:.3f}", f"worst_op={worst_name}",
                f"load={os.getloadavg()[0]:.2f}"]
    print(" ".join(summary))


if __name__ == "__main__":
    main()
