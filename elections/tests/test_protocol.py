"""The ballot protocol: completeness (honest ballots verify), soundness (every cheat the
issue lists is caught), and tallies equal to plain counting for random elections."""

from __future__ import annotations

import copy

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from elections import protocol as P
from elections.tests.records import election, record
from ledger import ec

EH = P.election_hash("cd" * 32, "e1")
VOTER = "11" * 32


@pytest.fixture(scope="module")
def keys():
    return [P.trustee_keygen(EH, t) for t in ("org1", "org2")]


@pytest.fixture(scope="module")
def joint(keys):
    return P.joint_key([k.public for k in keys])


QS = [P.Question(3, 1, 1), P.Question(4, 0, 2)]


def forged_range_proof(h, ct, lo, hi, label, voter=VOTER, eh=EH):
    """A cheating prover's best attempt for a value outside [lo, hi]: simulate every
    branch and fix the last challenge to make the sum come out (it cannot, without
    the discrete log of the commitment)."""
    steps, commitments = [], []
    for k in range(lo, hi + 1):
        c_k, s_k = P.random_scalar(), P.random_scalar()
        steps.append((c_k, s_k))
        commitments.append(P._range_commitments(h, ct, k, c_k, s_k))
    c = P._range_challenge(eh, voter, label, ct, lo, hi, commitments)
    # Adjusting the last c_k changes its commitments, so the recomputed challenge differs.
    c_last = (c - sum(ck for ck, _ in steps[:-1])) % ec.ORDER
    steps[-1] = (c_last, steps[-1][1])
    return [[ec.scalar_hex(c), ec.scalar_hex(s)] for c, s in steps]


def test_honest_ballots_verify(joint):
    sealed = P.encrypt_ballot(EH, VOTER, joint, QS, [[0, 1, 0], [1, 0, 0, 1]])
    assert P.ballot_problem(EH, VOTER, joint, QS, sealed.ballot) is None
    assert sealed.tracker == P.tracker(EH, VOTER, sealed.ballot)
    assert len(sealed.tracker) == 64


def test_empty_selection_when_allowed(joint):
    sealed = P.encrypt_ballot(EH, VOTER, joint, QS, [[1, 0, 0], [0, 0, 0, 0]])
    assert P.ballot_problem(EH, VOTER, joint, QS, sealed.ballot) is None


@pytest.mark.parametrize("value", [2, -1])
def test_choice_encrypting_two_or_minus_one_is_refused(joint, value):
    sealed = P.encrypt_ballot(EH, VOTER, joint, QS, [[0, 1, 0], [0, 0, 0, 0]])
    ballot = copy.deepcopy(sealed.ballot)
    ct = P.encrypt(joint, value, 12345)
    entry = ballot["answers"][0]["choices"][0]
    entry.update(ct.to_json())
    entry["proof"] = forged_range_proof(joint, ct, 0, 1, "q0/o0")
    assert P.ballot_problem(EH, VOTER, joint, QS, ballot) == "ballot proof invalid for q0/o0"


def test_honest_prover_cannot_prove_out_of_range(joint):
    with pytest.raises(P.ProtocolError):
        P.prove_range(EH, VOTER, "q0/o0", joint, P.encrypt(joint, 2, 7), 2, 7, 0, 1)


def test_too_many_choices_is_refused(joint):
    # every choice is a real 0/1 with a valid proof; only the count proof can be forged
    rs = [P.random_scalar() for _ in range(3)]
    picks = [1, 1, 0]
    entries, total = [], P.ZERO
    for oj, (m, r) in enumerate(zip(picks, rs, strict=True)):
        ct = P.encrypt(joint, m, r)
        total = total + ct
        entries.append({**ct.to_json(),
                        "proof": P.prove_range(EH, VOTER, f"q0/o{oj}", joint, ct, m, r, 0, 1)})
    first = {"choices": entries, "proof": forged_range_proof(joint, total, 1, 1, "q0/sum")}
    second = P.encrypt_ballot(EH, VOTER, joint, QS, [[1, 0, 0], [0, 0, 0, 0]]).ballot
    ballot = {"answers": [first, second["answers"][1]]}
    assert P.ballot_problem(EH, VOTER, joint, QS, ballot) == "ballot proof invalid for q0/sum"


def test_proof_copied_to_another_voter_or_election_fails(joint):
    sealed = P.encrypt_ballot(EH, VOTER, joint, QS, [[0, 0, 1], [0, 1, 1, 0]])
    other_voter = "22" * 32
    assert P.ballot_problem(EH, other_voter, joint, QS, sealed.ballot) == (
        "ballot proof invalid for q0/o0")
    other_election = P.election_hash("cd" * 32, "e2")
    assert P.ballot_problem(other_election, VOTER, joint, QS, sealed.ballot) is not None


def test_moved_ciphertext_fails(joint):
    """Swapping two options' ciphertexts (with their proofs) breaks the labels."""
    sealed = P.encrypt_ballot(EH, VOTER, joint, QS, [[1, 0, 0], [0, 0, 0, 0]])
    ballot = copy.deepcopy(sealed.ballot)
    row = ballot["answers"][0]["choices"]
    row[0], row[1] = row[1], row[0]
    assert P.ballot_problem(EH, VOTER, joint, QS, ballot) == "ballot proof invalid for q0/o0"


@pytest.mark.parametrize("mangle", [
    lambda b: b["answers"].pop(),
    lambda b: b["answers"][0]["choices"].pop(),
    lambda b: b["answers"][0]["choices"][0].update(a="02" + "ff" * 32),
    lambda b: b["answers"][0]["choices"][0].update(a="04" + "00" * 32),
    lambda b: b["answers"][0]["choices"][0].update(b="zz"),
    lambda b: b["answers"][0]["choices"][0]["proof"].pop(),
    lambda b: b["answers"][0]["choices"][0]["proof"][0].__setitem__(0, "f" * 64),
    lambda b: b["answers"][0].pop("proof"),
    lambda b: b.clear(),
])
def test_malformed_ballots_are_refused_not_crashing(joint, mangle):
    ballot = copy.deepcopy(P.encrypt_ballot(EH, VOTER, joint, QS,
                                            [[0, 1, 0], [0, 0, 0, 0]]).ballot)
    mangle(ballot)
    assert P.ballot_problem(EH, VOTER, joint, QS, ballot) is not None


def test_benaloh_challenge_opens_honest_ballot_and_catches_a_lie(joint):
    sealed = P.encrypt_ballot(EH, VOTER, joint, QS, [[0, 1, 0], [1, 1, 0, 0]])
    assert P.check_spoiled(EH, VOTER, joint, sealed.ballot, sealed.reveal(), QS) == []
    lie = sealed.reveal()
    lie["choices"][0] = [1, 0, 0]  # the device shows one choice but encrypted another
    problems = P.check_spoiled(EH, VOTER, joint, sealed.ballot, lie, QS)
    assert "q0/o0 does not open to 1" in problems and "q0/o1 does not open to 0" in problems


def test_trustee_key_proof(keys):
    posted = keys[0].posted()
    assert P.verify_trustee_key(EH, "org1", posted)
    assert not P.verify_trustee_key(EH, "org2", posted)  # bound to the trustee
    assert not P.verify_trustee_key(P.election_hash("cd" * 32, "e9"), "org1", posted)
    rogue = dict(posted, public=ec.neg(keys[1].public).hex())  # cancel another trustee
    assert not P.verify_trustee_key(EH, "org1", rogue)
    assert not P.verify_trustee_key(EH, "org1", dict(posted, public="00"))


def test_wrong_partial_decryption_is_refused(keys, joint):
    ballots = [P.encrypt_ballot(EH, f"{i:064x}", joint, QS, [[1, 0, 0], [0, 1, 1, 0]]).ballot
               for i in range(3)]
    sums = P.tally(ballots, QS)
    shares = P.partial_decrypt(EH, "org1", keys[0], sums)
    assert P.decryption_problem(EH, "org1", keys[0].public, sums, shares) is None
    # another trustee's share, or a share for another tally, or a changed d
    assert P.decryption_problem(EH, "org2", keys[1].public, sums, shares) is not None
    wrong = copy.deepcopy(shares)
    wrong[0][0]["d"] = ec.add(P.point(wrong[0][0]["d"]), ec.GENERATOR).hex()
    assert P.decryption_problem(EH, "org1", keys[0].public, sums, wrong) == (
        "decryption proof invalid for q0/o0")
    assert P.decryption_problem(EH, "org1", keys[0].public, sums, shares[:1]) is not None


def test_election_fixture_is_consistent():
    elec = election([(2, 1, 1)], ["org1"])
    assert elec["eh"] == P.election_hash(elec["tx_hash"], "e1")


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(questions=st.lists(
    st.integers(min_value=2, max_value=5).flatmap(
        lambda n: st.tuples(st.just(n), st.integers(0, n)).flatmap(
            lambda t: st.tuples(st.just(t[0]), st.just(t[1]), st.integers(t[1], t[0])))),
    min_size=1, max_size=2),
    voters=st.integers(min_value=0, max_value=6), trustees=st.integers(1, 3),
    seed=st.integers(0, 2**32))
def test_tally_equals_plain_counting(questions, voters, trustees, seed):
    rec, plain = record(questions, voters, trustees=trustees, seed=seed)
    assert rec["result"] == plain
