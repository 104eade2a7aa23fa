"""Calibration of the sandbox's cost model against the adversarial corpus.

    .venv/bin/python bench/sandbox_cost.py [--repeat 2] [--only NAME-SUBSTRING]

Runs every case of ``ledger/tests/sandbox_corpus.py`` (hostile chaincode; most cases repeat
one operation until the 200,000-step budget of a call is gone) in this process, like the
host runs a call: compile, load the module, invoke with a fresh meter. For each case it
prints the steps used, the wall time of the call (best of ``--repeat`` runs, to keep other
processes on a shared machine out of the figure), the seconds one full 200,000-step call
of that kind would take (wall time scaled by 200,000 / steps, for cases that used at least
20,000 steps) and the peak memory the call allocated (``tracemalloc``, a separate run:
Python objects the call created, which is everything chaincode can allocate).

Goal (issue 9): no call within budget takes more than 1 s or 256 MB on this machine; a
normal call is 0.01-0.09 s. The last line is the summary, for example::

    cases=170 worst_call_s=0.35 worst_call_case=... worst_call_mb=31.2 ... goal_met=yes

Wall-clock figures depend on the machine and its load: tests never assert them.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ledger.sandbox.runtime import DEFAULT_STEP_LIMIT  # noqa: E402
from ledger.tests.sandbox_corpus import CASES, Case, run_case  # noqa: E402

GOAL_S = 1.0
GOAL_MB = 256.0
MIN_STEPS_TO_SCALE = 20_000

BASELINE = Case("baseline-plain-loop", "baseline",
                "@write\ndef main(ctx):\n    x = 0\n    while True:\n        x = x + 1\n", 12)
BASELINE_KV = Case("baseline-kv-put-loop", "baseline",
                   "@write\ndef main(ctx):\n    i = 0\n    while True:\n"
                   "        ctx.put('k' + str(i % 50), {'n': i, 'v': 'x' * 20})\n"
                   "        i = i + 1\n", 12)


def machine() -> str:
    cpu = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = ",".join(f"{x:.2f}" for x in os.getloadavg())
    return (f"{platform.node()} {platform.system()} {platform.machine()} cpu={cpu!r} "
            f"cores={os.cpu_count()} python={platform.python_version()} "
            f"({platform.python_implementation()}) loadavg={load} "
            f"date={time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}")


def measure(case: Case, repeat: int) -> tuple[int, int, float, float]:
    """(code, steps, best wall seconds, peak MB)."""
    best = float("inf")
    outcome = None
    for _ in range(repeat):
        started = time.perf_counter()
        outcome = run_case(case)
        best = min(best, time.perf_counter() - started)
    assert outcome is not None
    tracemalloc.start()
    try:
        run_case(case)
        peak = tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()
    return outcome.code, outcome.steps, best, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=2, help="timed runs per case (best kept)")
    parser.add_argument("--only", default="", help="run cases whose name contains this")
    options = parser.parse_args()

    print(f"machine: {machine()}")
    print(f"conditions: in-process, one call per case, budget {DEFAULT_STEP_LIMIT} steps, "
          f"best of {options.repeat} timed runs, memory = tracemalloc peak of a separate run")
    cases = [c for c in [BASELINE, BASELINE_KV, *CASES] if options.only in c.name]
    header = (f"{'case':38} {'class':20} {'code':>4} {'steps':>7} {'wall_s':>7} "
              f"{'s/200k':>7} {'peak_mb':>8}")
    print(header)
    print("-" * len(header))
    worst_s = worst_scaled = worst_mb = 0.0
    worst_s_case = worst_scaled_case = worst_mb_case = ""
    baseline = 0.0
    mismatches = []
    started = time.perf_counter()
    for case in cases:
        code, steps, wall, peak = measure(case, options.repeat)
        scaled = wall * DEFAULT_STEP_LIMIT / steps if steps >= MIN_STEPS_TO_SCALE else 0.0
        print(f"{case.name:38} {case.kind:20} {code:>4} {steps:>7} {wall:>7.3f} "
              f"{scaled if scaled else float('nan'):>7.3f} {peak:>8.1f}")
        if code != case.expect:
            mismatches.append(case.name)
        if case.kind == "baseline":
            baseline = max(baseline, wall)
        if wall > worst_s:
            worst_s, worst_s_case = wall, case.name
        if scaled > worst_scaled:
            worst_scaled, worst_scaled_case = scaled, case.name
        if peak > worst_mb:
            worst_mb, worst_mb_case = peak, case.name
    total = time.perf_counter() - started
    met = worst_s <= GOAL_S and worst_scaled <= GOAL_S and worst_mb <= GOAL_MB
    print(f"loadavg after: {','.join(f'{x:.2f}' for x in os.getloadavg())}; "
          f"total {total:.1f} s; unexpected outcomes: {mismatches or 'none'}")
    print(f"cases={len(cases)} worst_call_s={worst_s:.3f} worst_call_case={worst_s_case} "
          f"worst_s_per_200k_steps={worst_scaled:.3f} worst_scaled_case={worst_scaled_case} "
          f"worst_call_mb={worst_mb:.1f} worst_mb_case={worst_mb_case} "
          f"baseline_call_s={baseline:.3f} goal_s={GOAL_S} goal_mb={GOAL_MB:.0f} "
          f"goal_met={'yes' if met and not mismatches else 'no'}")


if __name__ == "__main__":
    main()
