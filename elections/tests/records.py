"""Election records made with the reference protocol, for the protocol and verifier tests."""

from __future__ import annotations

import random
from typing import Any

from elections import protocol as P

TX_HASH = "ab" * 32


def election(questions: list[tuple[int, int, int]], trustees: list[str],
             election_id: str = "e1", tx_hash: str = TX_HASH) -> dict[str, Any]:
    """An election as the contract stores it: questions as (options, min, max)."""
    elec: dict[str, Any] = {
        "id": election_id, "title": "test", "trustees": trustees,
        "opens_at": 0, "closes_at": 1, "tx_hash": tx_hash,
        "questions": [{"id": f"q{i}", "title": f"Q{i}", "min_choices": lo, "max_choices": hi,
                       "options": [{"id": f"o{j}", "title": f"O{j}"} for j in range(n)]}
                      for i, (n, lo, hi) in enumerate(questions)],
    }
    elec["eh"] = P.election_hash(tx_hash, elec)
    return elec


def random_choices(rng: random.Random, questions: list[P.Question]) -> list[list[int]]:
    out = []
    for q in questions:
        k = rng.randint(q.min_choices, q.max_choices)
        picked = set(rng.sample(range(q.options), k))
        out.append([1 if j in picked else 0 for j in range(q.options)])
    return out


def record(questions: list[tuple[int, int, int]], voters: int, *, trustees: int = 2,
           seed: int = 1, decrypt: bool = True) -> tuple[dict[str, Any], list[list[int]]]:
    """A complete record with ``voters`` random ballots, and the plain counts."""
    rng = random.Random(seed)
    names = [f"org{i + 1}" for i in range(trustees)]
    elec = election(questions, names)
    eh = elec["eh"]
    keys = {t: P.trustee_keygen(eh, t) for t in names}
    h = P.joint_key([keys[t].public for t in names])
    qs = P.questions_of(elec)
    plain = [[0] * q.options for q in qs]
    ballots = []
    board = P.board_start(eh)
    for n in range(voters):
        voter = f"{n:064x}"
        choices = random_choices(rng, qs)
        sealed = P.encrypt_ballot(eh, voter, h, qs, choices)
        board = P.board_next(board, sealed.tracker)
        ballots.append({"seq": n + 1, "voter": voter, "tracker": sealed.tracker,
                        "ballot": sealed.ballot, "height": 1, "board": board})
        for qi, row in enumerate(choices):
            for oj, m in enumerate(row):
                plain[qi][oj] += m
    sums = P.tally([b["ballot"] for b in ballots], qs)
    rec: dict[str, Any] = {
        "format": "baas-election-record/1", "election": elec,
        "trustee_keys": {t: keys[t].posted() for t in names}, "joint_key": h.hex(),
        "roll": [b["voter"] for b in ballots], "ballots": ballots,
        "ballot_count": len(ballots), "board": board,
        "tally": [[ct.to_json() for ct in row] for row in sums],
        "decryptions": None, "result": None,
    }
    if decrypt:
        shares = {t: P.partial_decrypt(eh, t, keys[t], sums, board) for t in names}
        rec["decryptions"] = shares
        rec["result"] = P.counts(P.combine(sums, [shares[t] for t in names]), voters)
    return rec, plain
