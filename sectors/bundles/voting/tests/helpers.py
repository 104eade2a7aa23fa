"""Helpers for this bundle's tests: its samples (``sectors.harness.Samples``) and an
election driven with the reference protocol (``elections.protocol``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from elections import protocol as P
from ledger.testing import BLOCK_NS, T0
from sectors.harness import BundleChain, Samples, contract_events

BUNDLE = Path(__file__).resolve().parent.parent
SAMPLES = Samples(BUNDLE)
MANIFEST = SAMPLES.manifest
events = contract_events


def block_seconds(chain: BundleChain) -> int:
    """The block time (seconds) of the next block."""
    return (T0 + (chain.chain.height + 1) * BLOCK_NS) // 10**9


def wait_until(chain: BundleChain, seconds: int) -> None:
    """Empty blocks until the next block's time is at least ``seconds``."""
    while block_seconds(chain) < seconds:
        chain.chain.block()


def question(qid: str, options: list[str], lo: int, hi: int) -> dict[str, Any]:
    return {"id": qid, "title": qid.title(), "min_choices": lo, "max_choices": hi,
            "options": [{"id": o, "title": o.title()} for o in options]}


class Election:
    """One election on a BundleChain: the commission's, trustees' and voters' steps, with
    the secrets only the trustees and the voters' devices would hold."""

    def __init__(self, chain: BundleChain, election_id: str, questions: list[dict[str, Any]],
                 trustees: list[str], voters: list[str], *, open_for: int = 60,
                 opens_in: int = 0) -> None:
        self.chain, self.id, self.trustees = chain, election_id, trustees
        self.questions = questions
        start = block_seconds(chain) + opens_in
        self.opens_at, self.closes_at = start, start + open_for
        self.info = chain.call("commission", "create_election", id=election_id,
                               title=f"Election {election_id}", questions=questions,
                               trustees=trustees, opens_at=self.opens_at,
                               closes_at=self.closes_at)
        self.eh = self.info["eh"]
        if voters:
            chain.call("commission", "add_voters", id=election_id, voters=voters)
        self.keys = {t: P.trustee_keygen(self.eh, t) for t in trustees}
        self.joint = P.joint_key([self.keys[t].public for t in trustees])
        self.qs = P.questions_of({"questions": questions})

    def post_keys(self) -> None:
        for trustee in self.trustees:
            self.chain.call(f"org:{trustee}", "post_trustee_key", id=self.id,
                            **self.keys[trustee].posted())

    def open(self) -> None:
        self.post_keys()
        wait_until(self.chain, self.opens_at)
        self.chain.call("commission", "open_election", id=self.id)

    def ballot(self, voter: str, choices: list[list[int]]) -> P.SealedBallot:
        return P.encrypt_ballot(self.eh, voter, self.joint, self.qs, choices)

    def close(self) -> None:
        wait_until(self.chain, self.closes_at)
        self.chain.call("key:anyone", "close_election", id=self.id)

    def tallies(self) -> list[list[P.Ciphertext]]:
        record = self.chain.query("election_record", id=self.id)
        return [[P.Ciphertext.from_json(ct) for ct in row] for row in record["tally"]]

    def board(self) -> str:
        return self.chain.query("get_election", id=self.id)["board"]

    def shares(self, trustee: str) -> list[list[dict[str, Any]]]:
        return P.partial_decrypt(self.eh, trustee, self.keys[trustee], self.tallies(),
                                 self.board())

    def decrypt(self) -> None:
        for trustee in self.trustees:
            self.chain.call(f"org:{trustee}", "post_decryption", id=self.id,
                            shares=self.shares(trustee))

    def counts(self, ballots: int) -> list[list[int]]:
        record = self.chain.query("election_record", id=self.id)
        sums = [[P.Ciphertext.from_json(ct) for ct in row] for row in record["tally"]]
        shares = [record["decryptions"][t] for t in self.trustees]
        return P.counts(P.combine(sums, shares), ballots)

    def record(self) -> dict[str, Any]:
        """The election record as the verifier reads it from a node (ballots paged)."""
        record = self.chain.query("election_record", id=self.id)
        ballots, after = [], 0
        while True:
            page = self.chain.query("list_ballots", id=self.id, after=after, limit=100)
            ballots += page
            if len(page) < 100:
                break
            after = page[-1]["seq"]
        record["ballots"] = ballots
        return record
