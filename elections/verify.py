"""The independent election verifier: every proof, the sums, the decryption and the counts.

    python -m elections.verify RECORD.json
    python -m elections.verify --node http://127.0.0.1:26657 --election e1 [--chaincode voting]

It trusts nothing the platform computed: from the record alone (an exported election record,
or the same data read from any node's state) it re-derives the election hash from the
creating transaction, checks each trustee's proof of knowledge and the joint key, every
ballot's proofs and tracker, one ballot per voter, that every voter was on the roll, the
homomorphic sums, every partial decryption's proof, and that each published count decrypts
its sum. It prints ``VALID`` or ``INVALID: <the first failure>`` and exits 0 or 1 (2 when
the record cannot be read at all).

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


class Invalid(Exception):
    """The first check that failed."""


def _need(ok: bool, message: str) -> None:
    if not ok:
        raise Invalid(message)


def verify_record(record: dict[str, Any]) -> None:
    """Raise ``Invalid`` at the first failed check; return when every check passes."""
    _need(isinstance(record, dict) and record.get("format") == RECORD_FORMAT,
          f"not an election record (format {RECORD_FORMAT!r} expected)")
    try:
        _verify(record)
    except P.ProtocolError as err:
        raise Invalid(f"malformed record: {err}") from None
    except (KeyError, TypeError, ValueError, IndexError) as err:
        raise Invalid(f"malformed record: {type(err).__name__}: {err}") from None


def _verify(record: dict[str, Any]) -> None:
    election = record["election"]
    eh = P.election_hash(election["tx_hash"], election["id"])
    _need(eh == election["eh"], "the election hash does not match its creating transaction")
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

    # ballots
    roll = set(record["roll"]) if record.get("roll") is not None else None
    seen: set[str] = set()
    sums = [[P.ZERO] * q.options for q in questions]
    for n, entry in enumerate(record["ballots"]):
        voter, ballot = entry["voter"], entry["ballot"]
        where = f"ballot {entry.get('seq', n)} (tracker {str(entry.get('tracker'))[:16]}...)"
        _need(voter not in seen, f"{where}: a second ballot from voter {voter}")
        seen.add(voter)
        if roll is not None:
            _need(voter in roll, f"{where}: voter {voter} is not on the roll")
        problem = P.ballot_problem(eh, voter, h, questions, ballot)
        _need(problem is None, f"{where}: {problem}")
        _need(P.tracker(eh, voter, ballot) == entry["tracker"], f"{where}: tracker mismatch")
        for qi, row in enumerate(P.ciphertexts(ballot, questions)):
            for oj, ct in enumerate(row):
                sums[qi][oj] = sums[qi][oj] + ct

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
                                       decryptions[trustee])
        _need(problem is None, f"trustee {trustee}: {problem}")
    plain = P.combine(sums, [decryptions[t] for t in trustees])
    result = record["result"]
    _need(isinstance(result, list) and len(result) == len(questions),
          "the result has not one row per question")
    for qi, (row, counts) in enumerate(zip(plain, result, strict=True)):
        _need(isinstance(counts, list) and len(counts) == len(row),
              f"question {qi}: the result has not one count per option")
        for oj, (m_point, count) in enumerate(zip(row, counts, strict=True)):
            _need(isinstance(count, int) and 0 <= count <= len(seen)
                  and ec.small_multiple(count) == m_point,
                  f"{P.option_label(qi, oj)}: the published count {count!r} "
                  "is not what the tally decrypts to")


# -- reading a record from a node ------------------------------------------------------

def _ballots(client: Any, chaincode: str, election: str) -> Iterator[dict[str, Any]]:
    after = 0
    while True:
        page = client.call(chaincode, "list_ballots",
                           {"id": election, "after": after, "limit": PAGE})
        yield from page
        if len(page) < PAGE:
            return
        after = page[-1]["seq"]


def record_from_node(url: str, election: str, chaincode: str = "voting") -> dict[str, Any]:
    """The election record read from a node's state (``election_record`` and the ballots)."""
    from ledger.client import LedgerClient

    with LedgerClient(url) as client:
        record = client.call(chaincode, "election_record", {"id": election})
        if record is None:
            raise Invalid(f"no election {election!r} on that node")
        record["ballots"] = list(_ballots(client, chaincode, election))
    return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m elections.verify",
                                     description="Verify an election record.")
    parser.add_argument("record", nargs="?", help="an exported election record (JSON)")
    parser.add_argument("--node", help="read the record from this node's RPC URL instead")
    parser.add_argument("--election", help="the election id (with --node)")
    parser.add_argument("--chaincode", default="voting", help="the deployed chaincode name")
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
        verify_record(record)
    except Invalid as err:
        print(f"INVALID: {err}")
        return 1
    ballots = len(record.get("ballots") or [])
    state = "decrypted" if record.get("result") is not None else "not decrypted yet"
    print(f"VALID ({ballots} ballots, {state})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
