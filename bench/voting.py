"""The voting template: ballots cast per second on a 4-validator network, tally and
decryption time, and the independent verifier's time for 10,000 ballots.

    .venv/bin/python bench/voting.py [--ballots 2000] [--verify-ballots 10000]

On this machine, in this order:

1. a 4-validator local network (CometBFT on loopback, open access so voters' own keys may
   send), the voting bundle installed and initialised, an election with one question of
   three options (choose exactly one) and ``--ballots`` voters on the roll, two trustees;
2. ``ballots_per_s``: every voter's ballot encrypted in advance (the browser's work, not
   timed), then the cast transactions signed by each voter's key and sent with the load
   generator of ``bench/ledger_throughput.py`` (``broadcast_tx_sync`` round-robin over the
   four nodes, 32 senders) in rounds of 2,000 signed just before sending (a tx is valid
   for 5 minutes); ballots/s = committed / time from the first send to the last commit.
   Every validator runs every ballot's proofs;
3. the wait until the schedule closes (not timed), then ``tally_decrypt_s``: from closing
   the election to the published result: both trustees' partial decryptions of the
   on-chain tally (computed and posted), the counts found and published, each step a
   committed transaction;
4. ``verify_s``: ``python -m elections.verify --node`` logic on the record read from a
   node (every proof re-checked), for the ballots cast above;
5. ``verify_10k_s``: the verifier on a record of ``--verify-ballots`` ballots made by the
   reference protocol off chain (same question; the same checks as for a record read from a
   node).

Wall-clock figures depend on the machine and its load: tests never assert them. The last
line is one ``key=value`` summary.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.ledger_throughput import drive, machine  # noqa: E402
from elections.tests.network import Election, ElectionNet, signer  # noqa: E402
from elections.tests.records import record  # noqa: E402
from elections.verify import record_from_node, verify_record  # noqa: E402
from ledger.tx import Signer  # noqa: E402

QUESTION = {"id": "mayor", "title": "Mayor", "min_choices": 1, "max_choices": 1,
            "options": [{"id": o, "title": o} for o in ("kim", "lee", "park")]}
ROUND = 2000
SENDERS = 32


def cast_all(elec: Election, voters: list[Signer], rng: random.Random) -> tuple[int, int, float]:
    picks = []
    for _ in voters:
        row = [0, 0, 0]
        row[rng.randrange(3)] = 1
        picks.append([row])
    began = time.perf_counter()
    sealed = [elec.ballot(v, p) for v, p in zip(voters, picks, strict=True)]
    print(f"encrypted {len(sealed)} ballots off chain in {time.perf_counter() - began:.1f} s "
          "(not counted)", flush=True)
    committed = rejected = 0
    elapsed = 0.0
    for start in range(0, len(voters), ROUND):
        txs = [elec.cast_tx(v, s) for v, s in zip(voters[start:start + ROUND],
                                                   sealed[start:start + ROUND], strict=True)]
        done, refused, _lat, took, blocks = asyncio.run(drive(elec.net.urls, txs, SENDERS))
        committed, rejected, elapsed = committed + done, rejected + refused, elapsed + took
        print(f"  round {start // ROUND + 1}: {done}/{len(txs)} committed, {refused} "
              f"rejected, {took:.1f} s, {blocks} blocks", flush=True)
    return committed, rejected, elapsed


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ballots", type=int, default=2000, help="ballots cast on the network")
    ap.add_argument("--verify-ballots", type=int, default=10000,
                    help="ballots in the off-chain record for verify_10k_s")
    args = ap.parse_args()
    print(machine())
    rng = random.Random(2026)
    voters = [signer(f"bench-voter-{i}") for i in range(args.ballots)]
    # the voting must stay open long enough for every ballot at a pessimistic 20/s
    open_for = args.ballots // 20 + 90
    print(f"conditions: 4 validators on this machine's loopback, 2 trustees, 1 question of 3 "
          f"options, {args.ballots} voters, {SENDERS} concurrent senders, voting open "
          f"{open_for} s of block time", flush=True)
    with tempfile.TemporaryDirectory(prefix="voting-bench-") as tmp:
        net = ElectionNet(Path(tmp))
        net.start()
        try:
            net.deploy()
            now = int(time.time())
            began = time.perf_counter()
            elec = Election(net, "bench", [QUESTION], voters, opens_at=now,
                            closes_at=now + open_for)
            elec.open()
            print(f"election set up (roll of {len(voters)}, trustee keys, open) in "
                  f"{time.perf_counter() - began:.1f} s", flush=True)
            committed, rejected, elapsed = cast_all(elec, voters, rng)
            per_s = committed / elapsed if elapsed else 0.0
            print(f"cast: {committed}/{len(voters)} committed, {rejected} rejected, "
                  f"{per_s:.1f} ballots/s", flush=True)
            print(f"waiting for the schedule to close (until {elec.info['closes_at']}, "
                  "not counted)", flush=True)
            net.wait_until(elec.info["closes_at"])
            began = time.perf_counter()
            elec.close()
            elec.decrypt()
            counts = elec.publish(committed)
            tally_s = time.perf_counter() - began
            print(f"close, decrypt (2 trustees) and publish: {tally_s:.2f} s; counts {counts}",
                  flush=True)
            rec = record_from_node(net.urls[1], "bench")
            began = time.perf_counter()
            verify_record(rec)
            verify_s = time.perf_counter() - began
            print(f"verifier on the record read from node 2 ({len(rec['ballots'])} ballots): "
                  f"{verify_s:.1f} s, VALID", flush=True)
        finally:
            net.stop()
    began = time.perf_counter()
    big, _plain = record([(3, 1, 1)], args.verify_ballots, trustees=2, seed=10)
    print(f"made an off-chain record of {args.verify_ballots} ballots in "
          f"{time.perf_counter() - began:.1f} s (not counted)", flush=True)
    began = time.perf_counter()
    verify_record(big)
    verify_big = time.perf_counter() - began
    print(f"verifier on {args.verify_ballots} ballots: {verify_big:.1f} s, VALID", flush=True)
    print(f"ballots_per_s={per_s:.1f} tally_decrypt_s={tally_s:.2f} "
          f"verify_s={verify_s:.1f} verify_10k_s={verify_big:.1f} "
          f"ballots={committed} verify_ballots={args.verify_ballots}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
