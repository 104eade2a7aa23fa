"""The independent election verifier: every proof, the sums, the decryption and the counts.

    python -m elections.verify RECORD.json
    python -m elections.verify --node http://127.0.0.1:26657 --election e1 [--chaincode voting]

It trusts nothing the platform computed: from the record alone (an exported election record,
or the same data read from any node's state) it re-derives the election hash from the
creating transaction and the whole election definition, checks each trustee's proof of
knowledge and the joint key, the full roll, every ballot's proofs and tracker, one ballot per
voter, that every voter was on the roll, the number of ballots and the board's hash chain,
the homomorphic sums, every partial decryption's proof (bound to the board and the tally),
and that each published count decrypts its sum. It prints ``VALID`` or
``INVALID: <the first failure>`` and exits 0 or 1 (2 when the record cannot be read at all).

Only ``ledger.ec`` (the group) and ``elections.protocol`` are used; no Django, no database.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from typing import Any

from elections import protocol as P
from ledger import ec
from ledger.client import LedgerClientError

RECORD_FORMAT = "baas-election-record/1"
PAGE = 100
VOTER_PAGE = 500


class Invalid(Exception):
    """The first check that failed."""


def _need(ok: bool, message: str) -> None:
    if not ok:
        raise Invalid(message)


def verify_record(record: dict[str, Any], board: str | None = None) -> None:
    """Raise ``Invalid`` at the first failed check; return when every check passes.

    ``board``: the board's hash as read from a node (``get_election``) or kept from a cast
    receipt. A record file rewritten whole before decryption (ballots dropped and every
    hash recomputed) is consistent in itself; only this anchor shows it is not the chain's.
    """
    _need(isinstance(record, dict) and record.get("format") == RECORD_FORMAT,
          f"not an election record (format {RECORD_FORMAT!r} expected)")
    try:
        _verify(record)
        if board is not None:
            _need(record["board"] == board, "the board's hash is not the one given (--board)")
    except P.ProtocolError as err:
        raise Invalid(f"malformed record: {err}") from None
    except (KeyError, TypeError, ValueError, IndexError) as err:
        raise Invalid(f"malformed record: {type(err).__name__}: {err}") from None


def _verify(record: dict[str, Any]) -> None:
    election = record["election"]
    eh = P.election_hash(election["tx_hash"], election)
    _need(eh == election["eh"],
          "the election hash does not match its creating transaction and definition")
    questions = P.questions_of(election)
    for q in election["questions"]:
        _need(0 <= q["min_choices"] <= q["max_choices"] <= len(q["options"]),
              f"question {q.get('id')!r} has impossible choice bounds")

    # trustees and the joint key
    trustees = election["trustees"]
    keys = record["trustee_keys"]
    _need(sorted(keys) == sorted(trustees) and len(set(trustees)) == len(trustees),
          "the trustee keys are not exactly one per trustee")
    publics = {}
    for trustee in trustees:
        _need(P.verify_trustee_key(eh, trustee, keys[trustee]),
              f"trustee {trustee}: proof of knowledge of the key share is invalid")
        publics[trustee] = P.point(keys[trustee]["public"])
    h = P.joint_key([publics[t] for t in trustees])
    _need(h.hex() == record["joint_key"], "the joint key is not the sum of the trustee keys")
    _need(not h.is_identity,
          "the joint key is the identity: the trustee keys cancel out, ballots are not secret")

    # the roll: complete, each voter once, all public keys or all did:baas DIDs
    listed = record.get("roll")
    _need(isinstance(listed, list), "the record has no roll: read it in full (list_voters)")
    roll = set(listed)
    _need(len(roll) == len(listed), "the roll lists a voter twice")
    kinds = {P.voter_kind(v) for v in listed}
    _need(None not in kinds, "the roll holds an entry that is neither a public key nor a "
          "did:baas DID")
    _need(len(kinds) <= 1, "the roll mixes public keys and DIDs")

    # ballots, in the order cast, and the board's hash chain over their trackers
    ballots = record["ballots"]
    _need(isinstance(ballots, list), "the record has no list of ballots")
    count = record.get("ballot_count")
    _need(type(count) is int and count == len(ballots),
          f"the record holds {len(ballots)} ballots but the chain counted {count!r}")
    board = P.board_start(eh)
    seen: set[str] = set()
    sums = [[P.ZERO] * q.options for q in questions]
    for n, entry in enumerate(ballots):
        voter, ballot = entry["voter"], entry["ballot"]
        where = f"ballot {entry.get('seq', n)} (tracker {str(entry.get('tracker'))[:16]}...)"
        _need(entry.get("seq") == n + 1, f"{where}: not number {n + 1} on the board")
        _need(voter not in seen, f"{where}: a second ballot from voter {voter}")
        seen.add(voter)
        _need(voter in roll, f"{where}: voter {voter} is not on the roll")
        problem = P.ballot_problem(eh, voter, h, questions, ballot)
        _need(problem is None, f"{where}: {problem}")
        _need(P.tracker(eh, voter, ballot) == entry["tracker"], f"{where}: tracker mismatch")
        board = P.board_next(board, entry["tracker"])
        _need(entry.get("board") == board, f"{where}: the board's hash chain is broken")
        for qi, row in enumerate(P.ciphertexts(ballot, questions)):
            for oj, ct in enumerate(row):
                sums[qi][oj] = sums[qi][oj] + ct
    _need(record.get("board") == board,
          "the board's hash is not the hash chain of the ballots on the board")

    # the tally on record is the sum of the ballots
    tally = [[P.Ciphertext.from_json(ct) for ct in row] for row in record["tally"]]
    _need(tally == sums, "the tally is not the sum of the ballots")
    if record.get("result") is None:
        return  # not decrypted yet: everything so far holds

    decryptions = record["decryptions"]
    _need(sorted(decryptions) == sorted(trustees),
          "the partial decryptions are not exactly one per trustee")
    for trustee in trustees:
        problem = P.decryption_problem(eh, trustee, publics[trustee], sums,
                                       decryptions[trustee], board)
        _need(problem is None, f"trustee {trustee}: {problem}")
    plain = P.combine(sums, [decryptions[t] for t in trustees])
    result = record["result"]
    _need(isinstance(result, list) and len(result) == len(questions),
          "the result has not one row per question")
    for qi, (row, counts) in enumerate(zip(plain, result, strict=True)):
        _need(isinstance(counts, list) and len(counts) == len(row),
              f"question {qi}: the result has not one count per option")
        for oj, (m_point, count) in enumerate(zip(row, counts, strict=True)):
            _need(type(count) is int and 0 <= count <= len(ballots)
                  and ec.small_multiple(count) == m_point,
                  f"{P.option_label(qi, oj)}: the published count {count!r} "
                  "is not what the tally decrypts to")


# -- reading a record from a node ------------------------------------------------------

def _ballots(client: Any, chaincode: str, election: str,
             count: int) -> Iterator[dict[str, Any]]:
    """The first ``count`` ballots (those the record's board hash covers: more may be cast
    while the pages are read)."""
    after = 0
    while after < count:
        page = client.call(chaincode, "list_ballots",
                           {"id": election, "after": after,
                            "limit": max(1, min(PAGE, count - after))})
        yield from page[:count - after]
        if not page:
            return
        after = page[-1]["seq"]


def _voters(client: Any, chaincode: str, election: str) -> Iterator[str]:
    after = None
    while True:
        args: dict[str, Any] = {"id": election, "limit": VOTER_PAGE}
        if after is not None:
            args["after"] = after
        page = client.call(chaincode, "list_voters", args)
        yield from page
        if len(page) < VOTER_PAGE:
            return
        after = page[-1]


def record_from_node(url: str, election: str, chaincode: str = "voting") -> dict[str, Any]:
    """The election record read from a node's state (``election_record``, the ballots and,
    when ``election_record`` leaves it out, the roll, both paged)."""
    from ledger.client import LedgerClient

    with LedgerClient(url) as client:
        record = client.call(chaincode, "election_record", {"id": election})
        if record is None:
            raise Invalid(f"no election {election!r} on that node")
        if record.get("roll") is None:
            record["roll"] = list(_voters(client, chaincode, election))
        count = record.get("ballot_count")
        record["ballots"] = list(_ballots(client, chaincode, election,
                                          count if type(count) is int else 0))
    return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m elections.verify",
                                     description="Verify an election record.")
    parser.add_argument("record", nargs="?", help="an exported election record (JSON)")
    parser.add_argument("--node", help="read the record from this node's RPC URL instead")
    parser.add_argument("--election", help="the election id (with --node)")
    parser.add_argument("--chaincode", default="voting", help="the deployed chaincode name")
    parser.add_argument("--board", help="the board hash the record must have (from a node's "
                        "get_election, or a receipt of the last ballot)")
    args = parser.parse_args(argv)
    try:
        if args.node:
            if not args.election:
                parser.error("--node needs --election")
            record = record_from_node(args.node, args.election, args.chaincode)
        elif args.record:
            with open(args.record, encoding="utf-8") as f:
                record = json.load(f)
        else:
            parser.error("give a record file or --node and --election")
    except (OSError, ValueError, LedgerClientError) as err:
        print(f"cannot read the record: {err}", file=sys.stderr)
        return 2
    except Invalid as err:
        print(f"INVALID: {err}")
        return 1
    try:
        verify_record(record, board=args.board)
    except Invalid as err:
        print(f"INVALID: {err}")
        return 1
    ballots = len(record.get("ballots") or [])
    state = "decrypted" if record.get("result") is not None else "not decrypted yet"
    print(f"VALID ({ballots} ballots, {state})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
