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
    (_drop_ballot, "the tally is not the sum of the ballots"),
    (_change_tracker, "tracker mismatch"),
    (_off_roll, "is not on the roll"),
    (_wrong_share, "trustee org1: decryption proof invalid for q0/o0"),
    (_wrong_joint_key, "the joint key is not the sum"),
    (_wrong_election_hash, "the election hash does not match"),
    (_trustee_proof, "trustee org2: proof of knowledge"),
    (_bad_bounds, "ballot proof invalid for q0/sum"),
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
