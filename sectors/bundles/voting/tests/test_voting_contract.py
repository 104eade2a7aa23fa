"""Unit tests of the voting bundle on an in-process chain (sectors.harness), with ballots,
keys and decryptions made by the reference protocol (elections.protocol)."""

from __future__ import annotations

import random

import pytest

from elections import protocol as P
from elections.verify import Invalid, verify_record
from ledger import ec
from ledger.errors import Code
from sectors.harness import BundleChain, CallFailed, key_for

from .helpers import (
    BUNDLE,
    SAMPLES,
    Election,
    block_seconds,
    events,
    question,
    wait_until,
)

ROLES = {"commission": ["org1"], "trustee": ["org2", "org3", "org4", "org5", "org6"]}
TRUSTEES = ["org2", "org3"]
MAYOR = question("mayor", ["kim", "lee", "park"], 1, 1)
BUDGET = question("budget", ["park", "library", "bus"], 0, 2)


def pk(name: str) -> str:
    return key_for(name).public_key_hex


VOTERS = [f"voter{i}" for i in range(6)]


@pytest.fixture
def chain(tmp_path):
    c = BundleChain.start(tmp_path, BUNDLE, roles=ROLES)
    yield c
    c.close()


@pytest.fixture
def election(chain):
    """Election e1 (mayor: 1 of 3; budget: 0..2 of 3), six voters on the roll, open."""
    elec = Election(chain, "e1", [MAYOR, BUDGET], TRUSTEES, [pk(v) for v in VOTERS])
    elec.open()
    return elec


def root(chain):
    return chain.chain.app.store.root()


def refused(chain, who, fn, match, code=Code.CHAINCODE_ERROR, **args):
    """The call fails with ``code`` and a log containing ``match``, and changes nothing."""
    before = root(chain)
    with pytest.raises(CallFailed) as info:
        chain.call(who, fn, **args)
    assert info.value.code == code, info.value.log
    assert match in info.value.log, info.value.log
    assert root(chain) == before
    return info.value


def cast(chain, elec, voter, choices):
    sealed = elec.ballot(pk(voter), choices)
    out = chain.send(f"key:{voter}", "cast", id=elec.id, ballot=sealed.ballot)
    assert out.result == {"seq": out.result["seq"], "tracker": sealed.tracker,
                          "board": chain.query("get_election", id=elec.id)["board"]}
    return sealed, out


# -- samples, manifest, setup ---------------------------------------------------------------
def test_every_sample_does_what_it_expects(tmp_path):
    chain = BundleChain.start(tmp_path, BUNDLE)
    assert SAMPLES.sample_problems(chain) == []
    chain.close()


def test_manifest_declares_every_export_with_its_kind():
    assert SAMPLES.export_problems() == []


def test_init_runs_once_and_roles_of_reports_roles(chain):
    refused(chain, "org:org1", "init", "already initialised", roles=ROLES)
    assert chain.query("roles_of", org="org1") == ["commission"]
    assert chain.query("roles_of", org="org2") == ["trustee"]
    assert chain.query("roles_of", org="org9") == []
    assert chain.query("roles_of", public_key=pk("alice")) == ["voter"]


# -- a whole election -----------------------------------------------------------------------
def test_a_full_election_counts_what_was_cast_and_verifies(chain, election):
    rng = random.Random(14)
    plain = [[0, 0, 0], [0, 0, 0]]
    sealed = {}
    gas = []
    for voter in VOTERS:
        pick = [[0, 0, 0], [0, 0, 0]]
        pick[0][rng.randrange(3)] = 1
        for j in rng.sample(range(3), rng.randint(0, 2)):
            pick[1][j] = 1
        sealed[voter], out = cast(chain, election, voter, pick)
        gas.append(out.gas_used)
        assert events(out) == [("ballot_cast", {"id": "e1", "seq": str(out.result["seq"]),
                                                "tracker": sealed[voter].tracker,
                                                "voter": pk(voter)})]
        for qi, row in enumerate(pick):
            for oj, m in enumerate(row):
                plain[qi][oj] += m
    assert chain.query("get_election", id="e1")["ballots"] == len(VOTERS)
    assert chain.query("list_elections") == [{
        "id": "e1", "title": "Election e1", "state": "open", "opens_at": election.opens_at,
        "closes_at": election.closes_at, "voters": 6, "ballots": 6, "trustees": TRUSTEES}]
    found = chain.query("find_tracker", id="e1", tracker=sealed["voter3"].tracker)
    assert found["voter"] == pk("voter3") and found["seq"] == 4
    assert chain.query("find_tracker", id="e1", tracker="0" * 64) is None
    assert chain.query("get_ballot", id="e1", seq=2)["voter"] == pk("voter1")
    assert [b["seq"] for b in chain.query("list_ballots", id="e1", after=2, limit=3)] == [
        3, 4, 5]

    election.close()
    assert chain.query("get_election", id="e1")["state"] == "closed"
    election.decrypt()
    counts = election.counts(len(VOTERS))
    assert counts == plain  # the reference decryption of what the chain summed
    out = chain.send("commission", "publish_result", id="e1", counts=counts)
    assert events(out) == [("result_published", {"id": "e1", "by": "org1", "ballots": "6"})]
    info = chain.query("get_election", id="e1")
    assert info["state"] == "published" and info["result"] == plain

    record = election.record()
    assert record["roll"] == sorted(pk(v) for v in VOTERS)
    verify_record(record)  # the independent verifier accepts the chain's record
    record["result"][0][0] += 1
    with pytest.raises(Invalid):
        verify_record(record)


def test_steps_per_ballot_are_the_same_for_every_ballot_of_a_shape(chain):
    """3 options, exactly one choice: what such a ballot is charged does not depend on what
    it says (the first reads a tally of identities, "00", a few bytes shorter)."""
    elec = Election(chain, "e2", [MAYOR], TRUSTEES, [pk(v) for v in VOTERS[:3]])
    elec.open()
    gas = [cast(chain, elec, voter, [[1 if j == i else 0 for j in range(3)]])[1].gas_used
           for i, voter in enumerate(VOTERS[:3])]
    assert gas[1] == gas[2] and 0 < gas[1] - gas[0] < 16, gas
    print(f"steps per ballot (3 options, 1 choice): {gas[0]}")


# -- refusals while setting up ---------------------------------------------------------------
def test_roles_are_enforced(chain):
    args = dict(id="e9", title="t", questions=[MAYOR], trustees=TRUSTEES, opens_at=0,
                closes_at=10**10)
    refused(chain, "org:org2", "create_election", "commission", Code.UNAUTHORIZED, **args)
    refused(chain, "key:mallory", "create_election", "commission", Code.UNAUTHORIZED, **args)
    elec = Election(chain, "e1", [MAYOR], ["org2"], [pk("v")])
    refused(chain, "org:org2", "add_voters", "commission", Code.UNAUTHORIZED, id="e1",
            voters=[pk("w")])
    refused(chain, "org:org1", "post_trustee_key", "trustee", Code.UNAUTHORIZED, id="e1",
            **elec.keys["org2"].posted())
    # org3 holds the trustee role but is not a trustee of this election
    key3 = P.trustee_keygen(elec.eh, "org3")
    refused(chain, "org:org3", "post_trustee_key", "not a trustee of election e1", id="e1",
            **key3.posted())
    refused(chain, "org:org2", "open_election", "commission", Code.UNAUTHORIZED, id="e1")


def test_election_definitions_are_checked(chain):
    def create(match, **over):
        args = dict(id="e1", title="t", questions=[MAYOR], trustees=TRUSTEES, opens_at=0,
                    closes_at=10**10)
        args.update(over)
        refused(chain, "commission", "create_election", match, **args)

    create("questions must be a list of 1..10", questions=[])
    create("questions must be a list of 1..10", questions=[MAYOR] * 11)
    create("must have 2..20 options", questions=[question("q", ["a"], 0, 1)])
    create("must have 2..20 options", questions=[question("q", [f"o{i}" for i in range(21)],
                                                          0, 1)])
    create("min_choices is above max_choices", questions=[question("q", ["a", "b"], 2, 1)])
    create("max_choices must be an integer between 0 and 2",
           questions=[question("q", ["a", "b"], 0, 3)])
    create("two options have the id a", questions=[question("q", ["a", "a"], 0, 1)])
    create("two questions have the id mayor", questions=[MAYOR, MAYOR])
    create("unknown field", questions=[{**MAYOR, "extra": 1}])
    create("not an organisation holding the trustee role", trustees=["org1"])
    create("listed twice", trustees=["org2", "org2"])
    create("closes_at must be after opens_at", opens_at=5, closes_at=5)
    create("trustees x options is at most 400",
           questions=[question(f"q{i}", [f"o{j}" for j in range(20)], 1, 1) for i in range(5)],
           trustees=["org2", "org3", "org4", "org5", "org6"])
    # a ballot that could not be checked within one transaction's budget
    wide = [question(f"q{i}", [f"o{j}" for j in range(20)], 0, 20) for i in range(4)]
    create("ballots too large to check in one transaction", questions=wide)
    assert chain.query("list_elections") == []


def test_the_largest_election_allowed_takes_a_ballot_within_the_budget(chain):
    """5 questions of 20 options, 0..3 choices: 1,000 multiplications, the limit."""
    big = [question(f"q{i}", [f"o{j}" for j in range(20)], 0, 3) for i in range(5)]
    elec = Election(chain, "big", big, ["org2"], [pk("v")])
    elec.open()
    sealed, out = cast(chain, elec, "v", [[1, 1, 1] + [0] * 17] * 5)
    print(f"steps for the largest ballot allowed: {out.gas_used}")
    assert out.gas_used < 200_000


def test_the_largest_election_record_fits_in_one_answer(chain):
    """4 trustees x 100 options (the most shares allowed), 1,000 voters on the roll, long
    titles, a ballot in the tally, every share posted: the record is one query's answer."""
    long = "T" * 200
    big = [{**question(f"q{i}", [f"o{j}" for j in range(20)], 1, 1), "title": long,
            "options": [{"id": f"o{j}", "title": long} for j in range(20)]} for i in range(5)]
    trustees = ["org2", "org3"]  # the review chain has three organisations: reuse them
    elec = Election(chain, "big", big, trustees, [pk(f"v{i}") for i in range(500)])
    chain.call("commission", "add_voters", id="big", voters=[pk(f"w{i}") for i in range(500)])
    elec.open()
    cast(chain, elec, "v0", [[1] + [0] * 19] * 5)
    elec.close()
    elec.decrypt()
    result = chain.chain.call("voting", "election_record", {"id": "big"})
    assert result.code == 0, result.log
    size = len(result.value)
    print(f"election record of 2 trustees x 100 options, 1,000 voters: {size} bytes")
    # two more trustees' shares are what 4 trustees would add: still within 256 KiB
    shares = len(canonical_encode(chain.query("election_record", id="big")["decryptions"]))
    assert size + shares < 256 * 1024, (size, shares)


def canonical_encode(value):
    from ledger import canonical

    return canonical.encode(value)


def test_trustee_keys_and_opening_are_checked(chain):
    elec = Election(chain, "e1", [MAYOR], TRUSTEES, [])
    refused(chain, "commission", "open_election", "trustee keys missing from: org2, org3",
            id="e1")
    other = Election(chain, "e2", [MAYOR], TRUSTEES, [])
    # a key proof made for another election, and one made for another trustee
    refused(chain, "org:org2", "post_trustee_key", "trustee key proof invalid", id="e1",
            **other.keys["org2"].posted())
    refused(chain, "org:org2", "post_trustee_key", "trustee key proof invalid", id="e1",
            **elec.keys["org3"].posted())
    refused(chain, "org:org2", "post_trustee_key", "the trustee key is not a point", id="e1",
            public="02" + "f" * 64, proof=elec.keys["org2"].posted()["proof"])
    elec.post_keys()
    refused(chain, "org:org2", "post_trustee_key", "already posted", id="e1",
            **elec.keys["org2"].posted())
    refused(chain, "commission", "open_election", "the roll is empty", id="e1")
    chain.call("commission", "add_voters", id="e1", voters=[pk("a"), pk("b")])
    out = chain.send("commission", "add_voters", id="e1", voters=[pk("b"), pk("c"), pk("c")])
    assert out.result == {"added": 1, "duplicates": 2, "voters": 3}
    refused(chain, "commission", "add_voters", "a voter is a 64-hex public key", id="e1",
            voters=["nobody"])
    chain.call("commission", "open_election", id="e1")
    refused(chain, "commission", "add_voters", "before the election opens", id="e1",
            voters=[pk("d")])
    assert chain.query("get_election", id="e1")["joint_key"] == elec.joint.hex()


def test_opening_follows_the_schedule(chain):
    elec = Election(chain, "e1", [MAYOR], ["org2"], [pk("v")], opens_in=30, open_for=10)
    elec.post_keys()
    refused(chain, "commission", "open_election", "voting has not opened", id="e1")
    wait_until(chain, elec.closes_at)
    refused(chain, "commission", "open_election", "voting has closed", id="e1")


# -- refusals of ballots ---------------------------------------------------------------------
def forged_option(elec, voter, qi, oj, m, lo=0, hi=1, claimed=None):
    """An encryption of ``m`` with a proof made as if it held ``claimed`` (a cheat)."""
    r = P.random_scalar()
    ct = P.encrypt(elec.joint, m, r)
    claimed = (m if lo <= m <= hi else lo) if claimed is None else claimed
    proof = P.prove_range(elec.eh, voter, P.option_label(qi, oj), elec.joint, ct, claimed, r,
                          lo, hi)
    return ct, r, {**ct.to_json(), "proof": proof}


def cheat_ballot(elec, voter, values, claimed_sum=None):
    """A one-question ballot whose options encrypt ``values`` (any integers); each option
    proof claims 0/1, the sum proof claims ``claimed_sum`` (default: the true sum)."""
    q = elec.qs[0]
    entries, total, rs = [], P.ZERO, 0
    for oj, m in enumerate(values):
        ct, r, entry = forged_option(elec, voter, 0, oj, m, claimed=min(max(m, 0), 1))
        entries.append(entry)
        total = total + ct
        rs = (rs + r) % ec.ORDER
    claimed = sum(values) if claimed_sum is None else claimed_sum
    claimed = min(max(claimed, q.min_choices), q.max_choices)
    proof = P.prove_range(elec.eh, voter, P.sum_label(0), elec.joint, total, claimed, rs,
                          q.min_choices, q.max_choices)
    return {"answers": [{"choices": entries, "proof": proof}]}


@pytest.fixture
def mayor(chain):
    elec = Election(chain, "m1", [MAYOR], TRUSTEES, [pk(v) for v in VOTERS])
    elec.open()
    return elec


@pytest.mark.parametrize("values,label", [
    ([2, 0, 0], "q0/o0"),  # one option counted twice
    ([0, 2, -1], "q0/o1"),  # +2 and -1: the sum is still 1, the option proofs catch it
    ([-1, 1, 1], "q0/o0"),
])
def test_a_ballot_adding_anything_but_0_or_1_is_refused(chain, mayor, values, label):
    ballot = cheat_ballot(mayor, pk("voter0"), values)
    refused(chain, "key:voter0", "cast", f"ballot proof invalid for {label}", id="m1",
            ballot=ballot)


def test_a_ballot_with_too_many_choices_is_refused(chain, mayor):
    ballot = cheat_ballot(mayor, pk("voter0"), [1, 1, 0])  # max_choices is 1
    refused(chain, "key:voter0", "cast", "ballot proof invalid for q0/sum", id="m1",
            ballot=ballot)
    none = cheat_ballot(mayor, pk("voter0"), [0, 0, 0])  # min_choices is 1
    refused(chain, "key:voter0", "cast", "ballot proof invalid for q0/sum", id="m1",
            ballot=none)


def test_copied_replayed_and_foreign_ballots_are_refused(chain, mayor):
    other = Election(chain, "m2", [MAYOR], TRUSTEES, [pk("voter0")])
    other.open()
    # a ballot made for voter1, cast by voter0 (its proofs name voter1)
    copied = mayor.ballot(pk("voter1"), [[1, 0, 0]])
    refused(chain, "key:voter0", "cast", "ballot proof invalid for q0/o0", id="m1",
            ballot=copied.ballot)
    # the same voter's ballot for election m2 (same trustees, another election hash)
    foreign = P.encrypt_ballot(other.eh, pk("voter0"), mayor.joint, mayor.qs, [[0, 1, 0]])
    refused(chain, "key:voter0", "cast", "ballot proof invalid for q0/o0", id="m1",
            ballot=foreign.ballot)
    # a valid ballot, then the same ballot again, and another one by the same voter
    sealed, _ = cast(chain, mayor, "voter0", [[0, 0, 1]])
    refused(chain, "key:voter0", "cast", "already voted", id="m1", ballot=sealed.ballot)
    again = mayor.ballot(pk("voter0"), [[1, 0, 0]])
    refused(chain, "key:voter0", "cast", "already voted", id="m1", ballot=again.ballot)
    # someone else replaying it
    refused(chain, "key:voter2", "cast", "ballot proof invalid for q0/o0", id="m1",
            ballot=sealed.ballot)
    # a voter not on the roll, even with a ballot made properly for them
    outsider = mayor.ballot(pk("outsider"), [[1, 0, 0]])
    refused(chain, "key:outsider", "cast", "voter not on the roll", id="m1",
            ballot=outsider.ballot)
    assert chain.query("get_election", id="m1")["ballots"] == 1


def test_malformed_ballots_are_refused_with_the_place(chain, mayor):
    good = mayor.ballot(pk("voter0"), [[1, 0, 0]]).ballot
    bad_point = {"answers": [{**good["answers"][0], "choices": [
        {**good["answers"][0]["choices"][0], "b": "02" + "f" * 64},
        *good["answers"][0]["choices"][1:]]}]}
    refused(chain, "key:voter0", "cast", "ballot point invalid for q0/o0", id="m1",
            ballot=bad_point)
    short = {"answers": [{**good["answers"][0], "choices": good["answers"][0]["choices"][:2]}]}
    refused(chain, "key:voter0", "cast", "question 0 needs 3 choices", id="m1", ballot=short)
    refused(chain, "key:voter0", "cast", "one answer per question", id="m1",
            ballot={"answers": []})
    bad_step = {"answers": [{**good["answers"][0], "proof": [["zz", "00"]]}]}
    refused(chain, "key:voter0", "cast", "ballot proof for q0/sum", id="m1", ballot=bad_step)


def test_ballots_before_opening_and_after_closing_are_refused(chain):
    elec = Election(chain, "e1", [MAYOR], ["org2"], [pk("v"), pk("w")], open_for=20)
    early = elec.ballot(pk("v"), [[1, 0, 0]])
    refused(chain, "key:v", "cast", "voting has not opened", id="e1", ballot=early.ballot)
    elec.open()
    cast(chain, elec, "v", [[0, 1, 0]])
    wait_until(chain, elec.closes_at)
    late = elec.ballot(pk("w"), [[1, 0, 0]])
    # the closing time has passed: refused before anyone closes the election
    refused(chain, "key:w", "cast", "voting has closed", id="e1", ballot=late.ballot)
    elec.close()
    refused(chain, "key:w", "cast", "voting has closed", id="e1", ballot=late.ballot)
    refused(chain, "key:w", "close_election", "already closed", id="e1")


def test_a_did_voter_casts_with_a_signature_over_the_tracker(chain):
    from ledger.tests.did_helpers import NAMESPACE, create_op, did_of, run, with_namespace

    with_namespace(chain.chain)
    holder = key_for("did-holder")
    assert run(chain.chain, "create", create_op(holder)).code == 0
    did = f"did:baas:{NAMESPACE}:{did_of(holder)}"
    elec = Election(chain, "e1", [MAYOR], ["org2"], [did])
    elec.open()
    sealed = elec.ballot(did, [[0, 0, 1]])
    message = P.cast_message(elec.eh, sealed.tracker)
    wrong = key_for("someone").sign(message.encode()).hex()
    refused(chain, "key:relay", "cast", "voter signature invalid", id="e1",
            ballot=sealed.ballot, voter=did, auth=wrong)
    refused(chain, "key:relay", "cast", "auth must be", id="e1", ballot=sealed.ballot,
            voter=did)
    auth = holder.sign(message.encode()).hex()
    out = chain.send("key:relay", "cast", id="e1", ballot=sealed.ballot, voter=did, auth=auth)
    assert out.result["tracker"] == sealed.tracker
    refused(chain, "key:relay", "cast", "already voted", id="e1", ballot=sealed.ballot,
            voter=did, auth=auth)
    assert chain.query("find_tracker", id="e1", tracker=sealed.tracker)["voter"] == did


# -- refusals of decryptions and results -----------------------------------------------------
def test_decryption_and_result_before_closing_are_refused(chain, mayor):
    cast(chain, mayor, "voter0", [[1, 0, 0]])
    refused(chain, "org:org2", "post_decryption", "the election is not closed yet", id="m1",
            shares=mayor.shares("org2"))
    refused(chain, "commission", "publish_result", "the election is not closed yet", id="m1",
            counts=[[1, 0, 0]])
    refused(chain, "key:voter1", "close_election", "voting is still open", id="m1")


def test_wrong_decryptions_and_counts_are_refused(chain, mayor):
    for voter, pick in zip(VOTERS[:3], ([1, 0, 0], [0, 0, 1], [1, 0, 0]), strict=True):
        cast(chain, mayor, voter, [pick])
    mayor.close()
    # shares of org2 computed with another secret, and org2's shares posted by org3
    liar = P.trustee_keygen(mayor.eh, "org2")
    bad = P.partial_decrypt(mayor.eh, "org2", liar, mayor.tallies(), mayor.board())
    refused(chain, "org:org2", "post_decryption", "decryption proof invalid for q0/o0",
            id="m1", shares=bad)
    refused(chain, "org:org3", "post_decryption", "decryption proof invalid for q0/o0",
            id="m1", shares=mayor.shares("org2"))
    # a correct proof with D changed afterwards (it would shift the count by one)
    shares = mayor.shares("org2")
    d = P.point(shares[0][1]["d"])
    shares[0][1] = {**shares[0][1], "d": ec.add(d, ec.GENERATOR).hex()}
    refused(chain, "org:org2", "post_decryption", "decryption proof invalid for q0/o1",
            id="m1", shares=shares)
    refused(chain, "org:org2", "post_decryption", "one list of shares per question", id="m1",
            shares=[])
    chain.call("org:org2", "post_decryption", id="m1", shares=mayor.shares("org2"))
    refused(chain, "org:org2", "post_decryption", "already posted", id="m1",
            shares=mayor.shares("org2"))
    refused(chain, "commission", "publish_result", "decryptions missing from: org3", id="m1",
            counts=[[2, 0, 1]])
    chain.call("org:org3", "post_decryption", id="m1", shares=mayor.shares("org3"))
    assert mayor.counts(3) == [[2, 0, 1]]
    refused(chain, "commission", "publish_result", "count for q0/o0 does not match", id="m1",
            counts=[[1, 1, 1]])
    refused(chain, "commission", "publish_result", "count for q0/o1 does not match", id="m1",
            counts=[[2, 1, 0]])
    refused(chain, "commission", "publish_result", "must be an integer between 0 and 3",
            id="m1", counts=[[2, 0, 4]])
    refused(chain, "commission", "publish_result", "one count per option", id="m1",
            counts=[[2, 0]])
    refused(chain, "org:org2", "publish_result", "commission", Code.UNAUTHORIZED, id="m1",
            counts=[[2, 0, 1]])
    chain.call("commission", "publish_result", id="m1", counts=[[2, 0, 1]])
    refused(chain, "commission", "publish_result", "already published", id="m1",
            counts=[[2, 0, 1]])
    assert block_seconds(chain) > mayor.closes_at


# -- regressions of the security review (issue 14) -------------------------------------------
def test_the_election_hash_covers_the_definition_and_the_board_chains_the_trackers(
        chain, mayor):
    info = chain.query("get_election", id="m1")
    assert info["eh"] == P.election_hash(info["tx_hash"], info)
    assert info["board"] == P.board_start(info["eh"])
    sealed = [cast(chain, mayor, v, [[1, 0, 0]])[0] for v in VOTERS[:3]]
    board = P.board_hash(info["eh"], [s.tracker for s in sealed])
    assert chain.query("get_election", id="m1")["board"] == board
    entries = chain.query("list_ballots", id="m1")
    assert [b["board"] for b in entries] == [
        P.board_hash(info["eh"], [s.tracker for s in sealed[:n]]) for n in (1, 2, 3)]
    record = chain.query("election_record", id="m1")
    assert (record["board"], record["ballot_count"]) == (board, 3)


def test_an_election_too_large_to_hash_is_refused(chain):
    sizes = [15, 15, 15, 15, 15, 16, 16]  # 107 options: 7 + 1 + 35 + 214 = 257 parts
    qs = [question(f"q{i}", [f"o{j}" for j in range(n)], 1, 1) for i, n in enumerate(sizes)]
    refused(chain, "commission", "create_election", "the election is too large to hash",
            id="e1", title="t", questions=qs, trustees=["org2"], opens_at=0, closes_at=10**10)
    qs[0] = question("q0", [f"o{j}" for j in range(14)], 1, 1)  # 255 parts
    chain.call("commission", "create_election", id="e1", title="t", questions=qs,
               trustees=["org2"], opens_at=0, closes_at=10**10)


def test_another_commission_may_not_act_on_an_election(tmp_path):
    roles = {"commission": ["org1", "org3"], "trustee": ["org2"]}
    chain = BundleChain.start(tmp_path, BUNDLE, roles=roles)
    try:
        elec = Election(chain, "e1", [MAYOR], ["org2"], [pk("v")])
        refused(chain, "org:org3", "add_voters", "organisation org3 is not the commission of "
                "election e1", id="e1", voters=[pk("w")])
        elec.post_keys()
        wait_until(chain, elec.opens_at)
        refused(chain, "org:org3", "open_election", "is not the commission", id="e1")
        elec.chain.call("commission", "open_election", id="e1")
        cast(chain, elec, "v", [[1, 0, 0]])
        elec.close()
        elec.decrypt()
        refused(chain, "org:org3", "publish_result", "is not the commission", id="e1",
                counts=[[1, 0, 0]])
        chain.call("org:org1", "publish_result", id="e1", counts=[[1, 0, 0]])
    finally:
        chain.close()


def test_trustee_keys_that_cancel_out_are_refused_at_opening(chain):
    elec = Election(chain, "e1", [MAYOR], TRUSTEES, [pk("v")])
    chain.call("org:org2", "post_trustee_key", id="e1", **elec.keys["org2"].posted())
    # org3 knows org2's secret (colluding, or one operator): -X2 with a valid proof
    cancel = P.trustee_keygen(elec.eh, "org3", secret=ec.ORDER - elec.keys["org2"].secret)
    chain.call("org:org3", "post_trustee_key", id="e1", **cancel.posted())
    wait_until(chain, elec.opens_at)
    refused(chain, "commission", "open_election", "the trustee keys cancel out", id="e1")


def _did(namespace="seoul-welfare", suffix="a" * 26):
    return f"did:baas:{namespace}:{suffix}"


def test_a_roll_is_all_keys_or_all_dids(chain):
    Election(chain, "e1", [MAYOR], ["org2"], [])
    refused(chain, "commission", "add_voters", "a roll holds either public keys or did:baas "
            "DIDs, not both", id="e1", voters=[pk("a"), _did()])
    chain.call("commission", "add_voters", id="e1", voters=[pk("a")])
    refused(chain, "commission", "add_voters", "the roll of e1 holds public keys", id="e1",
            voters=[_did()])
    Election(chain, "e2", [MAYOR], ["org2"], [_did()])
    refused(chain, "commission", "add_voters", "the roll of e2 holds did:baas DIDs", id="e2",
            voters=[pk("a")])
    assert chain.query("get_election", id="e2")["roll_kind"] == "did"


def test_a_holder_on_a_did_roll_cannot_also_vote_by_key(chain):
    from ledger.tests.did_helpers import NAMESPACE, create_op, did_of, run, with_namespace

    with_namespace(chain.chain)
    holder = key_for("did-holder")
    assert run(chain.chain, "create", create_op(holder)).code == 0
    did = f"did:baas:{NAMESPACE}:{did_of(holder)}"
    elec = Election(chain, "e1", [MAYOR], ["org2"], [did])
    refused(chain, "commission", "add_voters", "not both", id="e1",
            voters=[holder.public_key_hex])
    elec.open()
    sealed = elec.ballot(did, [[0, 0, 1]])
    auth = holder.sign(P.cast_message(elec.eh, sealed.tracker).encode()).hex()
    chain.call("key:relay", "cast", id="e1", ballot=sealed.ballot, voter=did, auth=auth)
    by_key = elec.ballot(holder.public_key_hex, [[1, 0, 0]])
    refused(chain, "key:did-holder", "cast", "voter not on the roll", id="e1",
            ballot=by_key.ballot)


@pytest.mark.parametrize("did", [
    "did:baas:x", "did:baas:ns:" + "a" * 25, "did:baas:ns:" + "a" * 27,
    "did:baas:ns:" + "a" * 25 + "1", "did:baas:-ns:" + "a" * 26, "did:baas:ns-:" + "a" * 26,
    "did:baas:" + "n" * 33 + ":" + "a" * 26, "did:baas:n.s:" + "a" * 26,
    "did:baas:ns:x:" + "a" * 26, "did:baas::" + "a" * 26,
])
def test_malformed_dids_are_refused_on_the_roll(chain, did):
    Election(chain, "e1", [MAYOR], ["org2"], [])
    refused(chain, "commission", "add_voters", "a voter is a 64-hex public key or a did:baas "
            "DID", id="e1", voters=[did])


def test_the_largest_add_voters_calls_fit_in_a_transaction(chain):
    Election(chain, "e1", [MAYOR], ["org2"], [])
    longest = [_did("n" * 31 + "0", "".join("abcdefghijklmnopqrstuvwxyz234567"[(i >> s) % 32]
                                            for s in range(0, 130, 5)))
               for i in range(200)]
    assert len(longest[0]) == 68 and len(set(longest)) == 200
    out = chain.send("commission", "add_voters", id="e1", voters=longest)
    print(f"steps for 200 DIDs of 68 characters: {out.gas_used}")
    assert out.result["added"] == 200 and out.gas_used < 150_000
    more = [d[:-1] + "z" for d in longest] + [_did()]
    refused(chain, "commission", "add_voters", "at most 200 DIDs per call", id="e1",
            voters=more)
    # the old worst case, 500 DIDs of the longest form, on a new roll: a clear refusal
    Election(chain, "e3", [MAYOR], ["org2"], [])
    worst = longest + [d[:-2] + "zz" for d in longest] + [d[:-2] + "yy" for d in longest[:100]]
    assert len(set(worst)) == 500
    refused(chain, "commission", "add_voters", "at most 200 DIDs per call", id="e3",
            voters=worst)
    Election(chain, "e2", [MAYOR], ["org2"], [])
    out = chain.send("commission", "add_voters", id="e2",
                     voters=[f"{i:064x}" for i in range(500)])
    print(f"steps for 500 keys: {out.gas_used}")
    assert out.gas_used < 150_000


def test_a_ballot_with_zero_randomness_is_refused(chain, mayor):
    voter = pk("voter0")
    rs = [0, P.random_scalar(), P.random_scalar()]
    entries, total = [], P.ZERO
    for oj, (m, r) in enumerate(zip([1, 0, 0], rs, strict=True)):
        ct = P.encrypt(mayor.joint, m, r)
        total = total + ct
        entries.append({**ct.to_json(), "proof": P.prove_range(
            mayor.eh, voter, P.option_label(0, oj), mayor.joint, ct, m, r, 0, 1)})
    ballot = {"answers": [{"choices": entries, "proof": P.prove_range(
        mayor.eh, voter, "q0/sum", mayor.joint, total, 1, sum(rs) % ec.ORDER, 1, 1)}]}
    assert P.ballot_problem(mayor.eh, voter, mayor.joint, mayor.qs, ballot) is not None
    refused(chain, "key:voter0", "cast", "ballot point invalid for q0/o0: a is the identity",
            id="m1", ballot=ballot)


def test_a_decryption_bound_to_another_board_is_refused(chain, mayor):
    cast(chain, mayor, "voter0", [[1, 0, 0]])
    cast(chain, mayor, "voter1", [[0, 1, 0]])
    mayor.close()
    key = mayor.keys["org2"]
    stale = P.partial_decrypt(mayor.eh, "org2", key, mayor.tallies(), P.board_start(mayor.eh))
    refused(chain, "org:org2", "post_decryption", "decryption proof invalid for q0/o0",
            id="m1", shares=stale)
    chain.call("org:org2", "post_decryption", id="m1", shares=mayor.shares("org2"))


def test_list_voters_pages_the_whole_roll(chain):
    voters = sorted(f"{i:064x}" for i in range(1, 1202))
    elec = Election(chain, "e1", [MAYOR], ["org2"], voters[:500])
    chain.call("commission", "add_voters", id="e1", voters=voters[500:1000])
    chain.call("commission", "add_voters", id="e1", voters=voters[1000:])
    assert chain.query("election_record", id="e1")["roll"] is None  # > 1,000 voters
    got, after = [], None
    while True:
        args = {"id": "e1", "limit": 500} if after is None else {
            "id": "e1", "limit": 500, "after": after}
        page = chain.query("list_voters", **args)
        got += page
        if len(page) < 500:
            break
        after = page[-1]
    assert got == voters
    assert chain.query("list_voters", id="e1", after=voters[2], limit=2) == voters[3:5]
    elec.open()
