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

EH = election([(3, 1, 1), (4, 0, 2)], ["org1", "org2"], tx_hash="cd" * 32)["eh"]
BOARD = P.board_start(EH)
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
    c = P._range_challenge(eh, voter, label, h, ct, lo, hi, commitments)
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
    other_election = election([(3, 1, 1), (4, 0, 2)], ["org1", "org2"], "e2", "cd" * 32)["eh"]
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
    assert P.check_spoiled(EH, VOTER, joint, sealed.ballot, sealed.reveal(), QS,
                           sealed.tracker) == []
    lie = sealed.reveal()
    lie["choices"][0] = [1, 0, 0]  # the device shows one choice but encrypted another
    problems = P.check_spoiled(EH, VOTER, joint, sealed.ballot, lie, QS, sealed.tracker)
    assert "q0/o0 does not open to 1" in problems and "q0/o1 does not open to 0" in problems


def test_trustee_key_proof(keys):
    posted = keys[0].posted()
    assert P.verify_trustee_key(EH, "org1", posted)
    assert not P.verify_trustee_key(EH, "org2", posted)  # bound to the trustee
    other = election([(2, 1, 1)], ["org1"], "e9", "cd" * 32)["eh"]
    assert not P.verify_trustee_key(other, "org1", posted)
    rogue = dict(posted, public=ec.neg(keys[1].public).hex())  # cancel another trustee
    assert not P.verify_trustee_key(EH, "org1", rogue)
    assert not P.verify_trustee_key(EH, "org1", dict(posted, public="00"))


def test_wrong_partial_decryption_is_refused(keys, joint):
    ballots = [P.encrypt_ballot(EH, f"{i:064x}", joint, QS, [[1, 0, 0], [0, 1, 1, 0]]).ballot
               for i in range(3)]
    sums = P.tally(ballots, QS)
    shares = P.partial_decrypt(EH, "org1", keys[0], sums, BOARD)
    assert P.decryption_problem(EH, "org1", keys[0].public, sums, shares, BOARD) is None
    # another trustee's share, or a share for another tally, or a changed d
    assert P.decryption_problem(EH, "org2", keys[1].public, sums, shares, BOARD) is not None
    wrong = copy.deepcopy(shares)
    wrong[0][0]["d"] = ec.add(P.point(wrong[0][0]["d"]), ec.GENERATOR).hex()
    assert P.decryption_problem(EH, "org1", keys[0].public, sums, wrong, BOARD) == (
        "decryption proof invalid for q0/o0")
    assert P.decryption_problem(EH, "org1", keys[0].public, sums, shares[:1], BOARD) is not None


def test_election_fixture_is_consistent():
    elec = election([(2, 1, 1)], ["org1"])
    assert elec["eh"] == P.election_hash(elec["tx_hash"], elec)


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


# -- regressions of the security review (issue 14) ---------------------------------------

DEFINITION_EDITS = {
    "title": lambda e: e.update(title="other"),
    "opens_at": lambda e: e.update(opens_at=5),
    "closes_at": lambda e: e.update(closes_at=7),
    "a trustee": lambda e: e["trustees"].__setitem__(0, "org9"),
    "trustee order": lambda e: e["trustees"].reverse(),
    "a trustee more": lambda e: e["trustees"].append("org9"),
    "question id": lambda e: e["questions"][0].update(id="qx"),
    "question title": lambda e: e["questions"][1].update(title="Other"),
    "min_choices": lambda e: e["questions"][1].update(min_choices=1),
    "max_choices": lambda e: e["questions"][1].update(max_choices=1),
    "option id": lambda e: e["questions"][0]["options"][2].update(id="ox"),
    "option title": lambda e: e["questions"][0]["options"][0].update(title="Other"),
    "options swapped": lambda e: e["questions"][0]["options"].reverse(),
    "an option more": lambda e: e["questions"][0]["options"].append({"id": "o9", "title": "X"}),
    "questions swapped": lambda e: e["questions"].reverse(),
    "title moved into the id": lambda e: e.update(id="e1test", title=""),
}


@pytest.mark.parametrize("name", DEFINITION_EDITS)
def test_the_election_hash_covers_the_whole_definition(name):
    elec = election([(3, 1, 1), (4, 0, 2)], ["org1", "org2"])
    edited = copy.deepcopy(elec)
    DEFINITION_EDITS[name](edited)
    assert P.election_hash(elec["tx_hash"], edited) != elec["eh"]


def test_the_election_hash_parts_are_in_the_documented_order():
    elec = election([(2, 0, 1)], ["org1"])
    assert P.election_parts(elec["tx_hash"], elec) == [
        elec["tx_hash"], "e1", "test", 0, 1, 1, "org1", 1,
        "q0", "Q0", 0, 1, 2, "o0", "O0", "o1", "O1"]
    with pytest.raises(P.ProtocolError):
        P.election_hash(elec["tx_hash"], {**elec, "opens_at": True})


def test_the_board_is_a_hash_chain_over_the_trackers():
    start = P.board_start(EH)
    assert start == ec.transcript("baas-vote/v1/board", EH).hex()
    one = P.board_next(start, "aa" * 32)
    assert one == ec.transcript("baas-vote/v1/board", start, "aa" * 32).hex()
    assert P.board_hash(EH, ["aa" * 32, "bb" * 32]) == P.board_next(one, "bb" * 32)
    assert P.board_hash(EH, ["bb" * 32, "aa" * 32]) != P.board_hash(EH, ["aa" * 32, "bb" * 32])


def test_a_decryption_proof_binds_the_board_and_both_halves_of_the_tally(keys, joint):
    ballots = [P.encrypt_ballot(EH, f"{i:064x}", joint, QS, [[1, 0, 0], [0, 1, 1, 0]]).ballot
               for i in range(2)]
    sums = P.tally(ballots, QS)
    board = P.board_hash(EH, ["aa" * 32, "bb" * 32])
    shares = P.partial_decrypt(EH, "org1", keys[0], sums, board)
    assert P.decryption_problem(EH, "org1", keys[0].public, sums, shares, board) is None
    # the same A with another B (a tally edited to change the counts): refused
    edited = [list(row) for row in sums]
    edited[0][0] = P.Ciphertext(sums[0][0].a, ec.add(sums[0][0].b, ec.GENERATOR))
    assert P.decryption_problem(EH, "org1", keys[0].public, edited, shares, board) == (
        "decryption proof invalid for q0/o0")
    # another board (ballots edited, dropped or reordered): refused
    assert P.decryption_problem(EH, "org1", keys[0].public, sums, shares,
                                P.board_start(EH)) == "decryption proof invalid for q0/o0"


def test_a_range_proof_binds_the_joint_key(keys, joint):
    sealed = P.encrypt_ballot(EH, VOTER, joint, QS, [[0, 1, 0], [0, 0, 0, 0]])
    ct = P.Ciphertext.from_json(sealed.ballot["answers"][0]["choices"][1])
    proof = sealed.ballot["answers"][0]["choices"][1]["proof"]
    assert P.verify_range(EH, VOTER, "q0/o1", joint, ct, 0, 1, proof)
    steps = [(ec.scalar_from_hex(c), ec.scalar_from_hex(s)) for c, s in proof]
    commitments = [P._range_commitments(joint, ct, k, c, s)
                   for k, (c, s) in enumerate(steps)]
    without_h = ec.challenge(P.RANGE_DOMAIN, EH, VOTER, "q0/o1", ct.a, ct.b, 0, 1,
                             *[p for pair in commitments for p in pair])
    assert sum(c for c, _ in steps) % ec.ORDER != without_h


def test_no_ballot_is_encrypted_under_the_identity_joint_key(keys):
    cancelling = P.trustee_keygen(EH, "org2", secret=ec.ORDER - keys[0].secret)
    h = P.joint_key([keys[0].public, cancelling.public])
    assert h.is_identity and P.verify_trustee_key(EH, "org2", cancelling.posted())
    with pytest.raises(P.ProtocolError, match="the joint key is the identity"):
        P.encrypt_ballot(EH, VOTER, h, QS, [[1, 0, 0], [0, 0, 0, 0]])


def zero_randomness_ballot(joint, voter=VOTER):
    """A ballot whose q0/o0 is encrypted with r = 0 (A is the identity, B the vote in
    clear), every proof valid: no honest device makes it."""
    sealed = P.encrypt_ballot(EH, voter, joint, QS, [[1, 0, 0], [0, 0, 0, 0]])
    ballot = copy.deepcopy(sealed.ballot)
    rs = sealed.randomness[0]
    rs = [0, *rs[1:]]
    entries, total = [], P.ZERO
    for oj, (m, r) in enumerate(zip([1, 0, 0], rs, strict=True)):
        ct = P.encrypt(joint, m, r)
        total = total + ct
        entries.append({**ct.to_json(), "proof": P.prove_range(
            EH, voter, P.option_label(0, oj), joint, ct, m, r, 0, 1)})
    ballot["answers"][0] = {"choices": entries, "proof": P.prove_range(
        EH, voter, P.sum_label(0), joint, total, 1, sum(rs) % ec.ORDER, 1, 1)}
    return ballot


def test_a_ballot_with_zero_randomness_is_refused(joint):
    ballot = zero_randomness_ballot(joint)
    assert ballot["answers"][0]["choices"][0]["a"] == "00"
    assert P.ballot_problem(EH, VOTER, joint, QS, ballot) == (
        "ballot point invalid for q0/o0: a is the identity")


@pytest.mark.parametrize("value", [True, 1.0, "1", None, [1]])
def test_a_reveal_with_a_choice_that_is_not_the_integer_0_or_1_fails_without_crashing(
        joint, value):
    sealed = P.encrypt_ballot(EH, VOTER, joint, QS, [[0, 1, 0], [0, 0, 0, 0]])
    reveal = sealed.reveal()
    reveal["choices"][0][1] = value
    assert P.check_spoiled(EH, VOTER, joint, sealed.ballot, reveal, QS, sealed.tracker) == [
        f"q0/o1 does not open to {value!r}"]


def test_the_benaloh_check_needs_the_tracker_the_device_showed(joint):
    sealed = P.encrypt_ballot(EH, VOTER, joint, QS, [[0, 1, 0], [0, 0, 0, 0]])
    other = P.encrypt_ballot(EH, VOTER, joint, QS, [[0, 1, 0], [0, 0, 0, 0]])
    assert P.check_spoiled(EH, VOTER, joint, sealed.ballot, sealed.reveal(), QS,
                           other.tracker) == ["the tracker is not this ballot's"]
    with pytest.raises(TypeError):
        P.check_spoiled(EH, VOTER, joint, sealed.ballot, sealed.reveal(), QS)  # type: ignore


@pytest.mark.parametrize("text", [
    "did:baas:x", "did:baas:", "did:baas:ns:" + "a" * 26, "did:baas:ns:" + "a" * 25,
    "did:baas:ns:" + "a" * 27, "did:baas:-ns:" + "a" * 26, "did:baas:ns-:" + "a" * 26,
    "did:baas:n-s:" + "a" * 26, "did:baas:" + "n" * 32 + ":" + "a" * 26,
    "did:baas:" + "n" * 33 + ":" + "a" * 26, "did:baas:ns:" + "a" * 25 + "1",
    "did:baas:ns:" + "a" * 25 + "8", "did:baas:Ns:" + "a" * 26, "did:baas:ns:" + "A" * 26,
    "did:baas:ns:" + "a" * 26 + "#key-1", "did:baas:ns:x:" + "a" * 26, "did:web:example.com",
    "ab" * 32, "AB" * 32, "ab" * 31, "did:baas:n.s:" + "a" * 26, "did:baas:n_s:" + "a" * 26,
])
def test_voter_kind_follows_the_did_baas_syntax_of_the_ledger(text):
    from ledger import did_core
    from ledger.errors import LedgerError

    try:
        namespace, _, _ = did_core.parse_did_url(text, fragment=False)
        is_did = namespace is not None
    except LedgerError:
        is_did = False
    want = "key" if len(text) == 64 and all(c in "0123456789abcdef" for c in text) else (
        "did" if is_did else None)
    assert P.voter_kind(text) == want


def test_counts_find_small_counts_within_the_bound():
    points = [[ec.small_multiple(m) for m in (0, 1, 2, 17)]]
    assert P.counts(points, 20) == [[0, 1, 2, 17]]
    for beyond in (21, -1):
        with pytest.raises(P.ProtocolError):
            P.counts([[ec.small_multiple(beyond)]], 20)
