"""Calibration of the did:baas host calls and ``_did`` charges against the clock.

    .venv/bin/python bench/sandbox_did.py [--repeat 200]

On an in-process chain (``ledger.testing``) with one DID listing 16 Ed25519 keys in
``authentication``: the worst ``ctx.did_verify`` (no fragment, a wrong signature: all 16
keys are tried) with a short and a 64 KiB message, the usual one (one key by fragment),
``ctx.did_resolve`` of that DID, and ``_did.create`` of it. Each line gives the wall time
of one call, the steps charged and the microseconds per step; the cost model's own
operations run at roughly 0.3-0.45 us a step (``bench/sandbox_cost.py`` baselines) and at
most ~2 us a step (its worst case). The last line is a ``key=value`` summary.

Wall-clock figures depend on the machine and its load: tests never assert them.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.sandbox_cost import machine  # noqa: E402
from ledger.contract import Caller, Context  # noqa: E402
from ledger.sandbox import Meter  # noqa: E402
from ledger.system.did import derive_suffix, op_message  # noqa: E402
from ledger.testing import CHAIN_ID, Chain, seeded, start_chain  # noqa: E402

NAMESPACE = "bench"


def sixteen_key_did(chain: Chain) -> tuple[str, object, int]:
    owner = seeded("bench-owner")
    signers = [owner] + [seeded(f"bench-{i}") for i in range(15)]
    methods = [{"id": f"k{i}", "type": "Ed25519", "publicKey": s.public_key_hex}
               for i, s in enumerate(signers)]
    ids = [m["id"] for m in methods]
    state = {"verificationMethod": methods, "authentication": ids,
             "capabilityInvocation": ids}
    suffix = derive_suffix(owner.public_key_bytes)
    op = {"did": suffix, "op": "create", "prev": 0, "state": state, "key": "k0",
          "sig": owner.sign(op_message(CHAIN_ID, suffix, "create", 0, state)).hex()}
    result = chain.block(chain.tx("user1", "_did", "create", [op])).tx_results[0]
    assert result.code == 0, result.log
    return f"did:baas:{NAMESPACE}:{suffix}", owner, result.gas_used


def timed(chain: Chain, repeat: int, call) -> tuple[float, int]:
    """(seconds per call, steps per call), best of three rounds."""
    best, steps = float("inf"), 0
    for _ in range(3):
        meter = Meter(10**12)
        ctx = Context(chaincode="bench", reader=chain.app.store, caller=Caller(public_key=""),
                      block_height=1, block_time=1, tx_hash="", meter=meter, writable=False)
        began = time.perf_counter()
        for _ in range(repeat):
            call(ctx)
        best = min(best, (time.perf_counter() - began) / repeat)
        steps = meter.steps // repeat
    return best, steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=200)
    repeat = parser.parse_args().repeat
    print(machine())
    with tempfile.TemporaryDirectory(prefix="did-bench-") as tmp:
        chain = start_chain(Path(tmp) / "app")
        assert chain.block(chain.tx("admin1", "_did", "set_namespace", [NAMESPACE])
                           ).tx_results[0].code == 0
        began = time.perf_counter()
        did, owner, create_steps = sixteen_key_did(chain)
        create_s = time.perf_counter() - began  # the whole block: decode, run, commit
        short, long = "m" * 16, "m" * 64 * 1024
        good = owner.sign(short.encode()).hex()
        cases = {
            "verify_worst_short": lambda c: c.did_verify(did, short, "00" * 64),
            "verify_worst_64k": lambda c: c.did_verify(did, long, "00" * 64),
            "verify_one_key_short": lambda c: c.did_verify(did + "#k0", short, good),
            "resolve_16_keys": lambda c: c.did_resolve(did),
        }
        worst = 0.0
        summary = [f"create_16_keys_steps={create_steps}", f"create_block_s={create_s:.4f}"]
        for name, call in cases.items():
            seconds, steps = timed(chain, repeat if "64k" not in name else repeat // 4, call)
            per_step = seconds * 1e6 / steps
            worst = max(worst, per_step)
            print(f"{name:24} {seconds * 1e6:9.0f} us  {steps:6} steps  {per_step:.3f} us/step")
            summary.append(f"{name}_us={seconds * 1e6:.0f}")
        chain.app.close()
    summary.append(f"worst_us_per_step={worst:.3f}")
    summary.append(f"load={os.getloadavg()[0]:.2f}")
    print(" ".join(summary))


if __name__ == "__main__":
    main()
