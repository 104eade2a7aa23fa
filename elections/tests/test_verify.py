"""The independent verifier: VALID for an honest record, the first failure for each tamper."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest

from elections import protocol as P
from elections.tests.records import record
from elections.verify import Invalid, main, verify_record
from ledger import ec

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def honest():
    rec, _ = record([(3, 1, 1), (2, 0, 2)], voters=5, trustees=2, seed=7)
    return rec


def test_honest_record_is_valid(honest):
    verify_record(honest)


def test_undecrypted_record_is_valid_so_far():
    rec, _ = record([(2, 1, 1)], voters=2, decrypt=False)
    verify_record(rec)


def _swap_count(rec):
    rec["result"][0][0] += 1
    rec["result"][0][1] -= 1


def _swap_ballot_ciphertexts(rec):
    choices = rec["ballots"][0]["ballot"]["answers"][0]["choices"]
    choices[0], choices[1] = choices[1], choices[0]


def _duplicate_voter(rec):
    rec["ballots"][1]["voter"] = rec["ballots"][0]["voter"]


def _drop_ballot(rec):
    rec["ballots"].pop()


def _drop_ballot_and_count(rec):
    rec["ballots"].pop()
    rec["ballot_count"] -= 1


def _swap_ballot_order(rec):
    rec["ballots"][0], rec["ballots"][1] = rec["ballots"][1], rec["ballots"][0]


def _swap_ballot_order_and_seq(rec):
    _swap_ballot_order(rec)
    rec["ballots"][0]["seq"], rec["ballots"][1]["seq"] = 1, 2


def _no_roll(rec):
    rec["roll"] = None


def _mixed_roll(rec):
    rec["roll"].append("did:baas:ns:" + "a" * 26)


def _bad_roll_entry(rec):
    rec["roll"].append("did:baas:x")


def _edit_question_title(rec):
    rec["election"]["questions"][0]["title"] = "Another question"


def _edit_option_title(rec):
    rec["election"]["questions"][0]["options"][0]["title"], \
        rec["election"]["questions"][0]["options"][1]["title"] = \
        rec["election"]["questions"][0]["options"][1]["title"], \
        rec["election"]["questions"][0]["options"][0]["title"]


def _edit_schedule(rec):
    rec["election"]["closes_at"] += 3600


def _edit_tally_b(rec):
    cell = rec["tally"][0][0]
    cell["b"] = ec.add(P.point(cell["b"]), ec.GENERATOR).hex()


def _change_tracker(rec):
    rec["ballots"][0]["tracker"] = "0" * 64


def _off_roll(rec):
    rec["roll"].remove(rec["ballots"][2]["voter"])


def _wrong_share(rec):
    share = rec["decryptions"]["org1"][0][0]
    share["d"] = ec.add(P.point(share["d"]), ec.GENERATOR).hex()


def _wrong_joint_key(rec):
    rec["joint_key"] = ec.GENERATOR.hex()


def _wrong_election_hash(rec):
    rec["election"]["id"] = "other"


def _trustee_proof(rec):
    rec["trustee_keys"]["org2"]["proof"][1] = ec.scalar_hex(5)


def _bad_bounds(rec):
    rec["election"]["questions"][0]["max_choices"] = 2


@pytest.mark.parametrize("tamper, expected", [
    (_swap_count, "q0/o0: the published count"),
    (_swap_ballot_ciphertexts, "ballot proof invalid for q0/o0"),
    (_duplicate_voter, "a second ballot from voter"),
    (_drop_ballot, "the record holds 4 ballots but the chain counted 5"),
    (_drop_ballot_and_count, "the board's hash is not the hash chain of the ballots"),
    (_swap_ballot_order, "not number 1 on the board"),
    (_swap_ballot_order_and_seq, "the board's hash chain is broken"),
    (_no_roll, "the record has no roll"),
    (_mixed_roll, "the roll mixes public keys and DIDs"),
    (_bad_roll_entry, "neither a public key nor a did:baas DID"),
    (_edit_question_title, "the election hash does not match"),
    (_edit_option_title, "the election hash does not match"),
    (_edit_schedule, "the election hash does not match"),
    (_edit_tally_b, "the tally is not the sum of the ballots"),
    (_change_tracker, "tracker mismatch"),
    (_off_roll, "is not on the roll"),
    (_wrong_share, "trustee org1: decryption proof invalid for q0/o0"),
    (_wrong_joint_key, "the joint key is not the sum"),
    (_wrong_election_hash, "the election hash does not match"),
    (_trustee_proof, "trustee org2: proof of knowledge"),
    (_bad_bounds, "the election hash does not match"),  # max_choices is in eh
])
def test_tampered_record_is_invalid(honest, tamper, expected):
    rec = copy.deepcopy(honest)
    tamper(rec)
    with pytest.raises(Invalid) as err:
        verify_record(rec)
    assert expected in str(err.value)


@pytest.mark.parametrize("junk", [[], {"format": "x"}, {"format": "baas-election-record/1"},
                                  {"format": "baas-election-record/1", "election": 5}])
def test_junk_is_invalid_not_a_crash(junk):
    with pytest.raises(Invalid):
        verify_record(junk)


def test_command_line(tmp_path, honest):
    good = tmp_path / "good.json"
    good.write_text(json.dumps(honest))
    bad_rec = copy.deepcopy(honest)
    _swap_count(bad_rec)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(bad_rec))
    run = [sys.executable, "-m", "elections.verify"]
    ok = subprocess.run([*run, str(good)], cwd=ROOT, capture_output=True, text=True)
    assert ok.returncode == 0 and ok.stdout.startswith("VALID"), ok.stdout + ok.stderr
    no = subprocess.run([*run, str(bad)], cwd=ROOT, capture_output=True, text=True)
    assert no.returncode == 1 and no.stdout.startswith("INVALID: q0/o0"), no.stdout
    assert main([str(tmp_path / "missing.json")]) == 2


# -- regressions of the security review (issue 14) ---------------------------------------

def _rebuilt(rec, ballots):
    """``rec`` rewritten whole around ``ballots``: seqs, board hashes, count and tally
    recomputed, as a forger of a record file would."""
    rec = copy.deepcopy(rec)
    eh = rec["election"]["eh"]
    board = P.board_start(eh)
    for n, entry in enumerate(ballots):
        board = P.board_next(board, entry["tracker"])
        entry.update(seq=n + 1, board=board)
    qs = P.questions_of(rec["election"])
    rec.update(ballots=ballots, ballot_count=len(ballots), board=board,
               tally=[[ct.to_json() for ct in row]
                      for row in P.tally([b["ballot"] for b in ballots], qs)])
    return rec


def test_a_ballot_dropped_before_decryption_is_caught_by_the_board_hash():
    rec, _ = record([(3, 1, 1)], voters=4, decrypt=False)
    board = rec["board"]
    verify_record(rec, board=board)
    forged = _rebuilt(rec, copy.deepcopy(rec["ballots"][1:]))
    verify_record(forged)  # consistent in itself...
    with pytest.raises(Invalid, match="the board's hash is not the one given"):
        verify_record(forged, board=board)  # ...but not the chain's board


def test_a_ballot_dropped_after_decryption_breaks_every_decryption_proof(honest):
    forged = _rebuilt(honest, copy.deepcopy(honest["ballots"][1:]))
    with pytest.raises(Invalid, match="trustee org1: decryption proof invalid for q0/o0"):
        verify_record(forged)


def test_the_identity_joint_key_is_invalid():
    rec, _ = record([(2, 1, 1)], voters=0, trustees=2, decrypt=False)
    eh = rec["election"]["eh"]
    first = P.trustee_keygen(eh, "org1")
    second = P.trustee_keygen(eh, "org2", secret=ec.ORDER - first.secret)
    rec["trustee_keys"] = {"org1": first.posted(), "org2": second.posted()}
    rec["joint_key"] = "00"
    with pytest.raises(Invalid, match="the joint key is the identity"):
        verify_record(rec)


def test_a_ballot_with_zero_randomness_is_invalid(honest):
    rec, _ = record([(3, 1, 1)], voters=2, decrypt=False)
    eh, h = rec["election"]["eh"], P.point(rec["joint_key"])
    voter = rec["ballots"][0]["voter"]
    ct = P.encrypt(h, 1, 0)
    others = [(P.encrypt(h, 0, r), r) for r in (P.random_scalar(), P.random_scalar())]
    entries = [{**ct.to_json(), "proof": P.prove_range(eh, voter, "q0/o0", h, ct, 1, 0, 0, 1)}]
    total, rsum = ct, 0
    for oj, (c, r) in enumerate(others, start=1):
        entries.append({**c.to_json(),
                        "proof": P.prove_range(eh, voter, f"q0/o{oj}", h, c, 0, r, 0, 1)})
        total, rsum = total + c, (rsum + r) % ec.ORDER
    ballot = {"answers": [{"choices": entries, "proof": P.prove_range(
        eh, voter, "q0/sum", h, total, 1, rsum, 1, 1)}]}
    ballots = copy.deepcopy(rec["ballots"])
    ballots[0].update(ballot=ballot, tracker=P.tracker(eh, voter, ballot))
    forged = _rebuilt(rec, ballots)
    with pytest.raises(Invalid, match="ballot point invalid for q0/o0: a is the identity"):
        verify_record(forged)


def test_command_line_board_anchor(tmp_path, honest):
    good = tmp_path / "good.json"
    good.write_text(json.dumps(honest))
    run = [sys.executable, "-m", "elections.verify", str(good), "--board"]
    ok = subprocess.run([*run, honest["board"]], cwd=ROOT, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    no = subprocess.run([*run, "00" * 32], cwd=ROOT, capture_output=True, text=True)
    assert no.returncode == 1 and "the one given" in no.stdout, no.stdout
