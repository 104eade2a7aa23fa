"""The checks of the elections services without a chain: parsing the questions and the roll,
what a ballot costs, and computing the counts from a record (records made with the
reference protocol, ``elections.tests.records``)."""

from __future__ import annotations

import copy

import pytest

from baas.errors import AppError
from elections import protocol as P
from elections import services
from elections.forms import parse_questions
from elections.tests.records import record


def test_questions_parse_from_blocks_with_their_bounds():
    text = ("  Mayor [1]\n- Kim\n* Lee\n\n\n\nBudget [0 - 2]\nParks\n• Library\nBuses\n\n"
            "Chair\n- A\n- B")
    qs = parse_questions(text)
    assert [(q["title"], q["min_choices"], q["max_choices"]) for q in qs] == [
        ("Mayor", 1, 1), ("Budget", 0, 2), ("Chair", 1, 1)]
    assert [o["title"] for o in qs[1]["options"]] == ["Parks", "Library", "Buses"]
    assert [q["id"] for q in qs] == ["q1", "q2", "q3"]
    assert [o["id"] for o in qs[0]["options"]] == ["o1", "o2"]


def test_the_roll_parses_keys_and_dids_once_each_and_names_the_first_bad_line():
    key = "AB" * 32
    did = "did:baas:seoul:" + "a2" * 13
    voters = services.parse_voters(f"{key}\n\n# note\n{key.lower()}\n{did}\n")
    assert voters == [key.lower(), did]
    with pytest.raises(AppError) as err:
        services.parse_voters(f"{key}\n{'ab' * 31}\nnot a key\n")
    assert err.value.code == "invalid_voters" and err.value.details["lines"] == [2, 3]
    with pytest.raises(AppError) as err:
        services.parse_voters("\n# only a comment\n")
    assert err.value.code == "invalid_voters"
    many = "\n".join(f"{n:064x}" for n in range(services.MAX_VOTERS_PER_REQUEST + 1))
    with pytest.raises(AppError) as err:
        services.parse_voters(many)
    assert err.value.code == "too_many_voters"


@pytest.mark.parametrize("line", [
    "did:baas:seoul:z6Mk1",  # the suffix is 26 base32 characters
    "did:baas:seoul:" + "A2" * 13,  # lower-case base32
    "did:baas:seoul:" + "a1" * 13,  # no 0, 1, 8, 9 in base32
    "did:baas:-seoul:" + "a2" * 13,
    "did:baas:seoul-:" + "a2" * 13,
    "did:baas:" + "s" * 33 + ":" + "a2" * 13,
    "did:baas:seoul:" + "a2" * 13 + "#key-1",
    "did:baas:seoul:" + "a2" * 13 + "\u0663",
])
def test_the_roll_takes_only_what_the_contract_takes(line):
    """The contract's rule (protocol.voter_kind), not a laxer one: a line the chain would
    refuse is named here, before anything is sent."""
    with pytest.raises(AppError) as err:
        services.parse_voters(line)
    assert err.value.code == "invalid_voters" and err.value.details["lines"] == [1]
    with pytest.raises(AppError) as err:  # nothing sent: no deployment needed
        services.voters_add(tenant=None, actor=None, deployment=None, election_id="e1",
                            voters=[line])
    assert err.value.code == "invalid_voters"


def test_a_mixed_roll_is_decided_by_the_contracts_rule():
    did = "did:baas:seoul:" + "a2" * 13
    with pytest.raises(AppError) as err:
        services.voters_add(tenant=None, actor=None, deployment=None, election_id="e1",
                            voters=["ab" * 32, did])
    assert err.value.code == "invalid_voters" and "mix 1 public keys and 1 DIDs" in \
        err.value.message


def test_the_ballot_size_estimate_is_the_size_of_a_real_ballot():
    rec, _plain = record([(3, 1, 1), (4, 0, 2)], voters=1, decrypt=False)
    ballot = rec["ballots"][0]["ballot"]
    import json

    real = len(json.dumps(ballot, separators=(",", ":")))
    assert services.ballot_bytes(rec["election"]["questions"]) == real


def spec(**kw):
    base = dict(id="e1", title="T", questions=parse_questions("Q [1]\n- a\n- b"),
                trustees=["org1"], opens_at=100, closes_at=200)
    return services.ElectionSpec(**{**base, **kw})


@pytest.mark.parametrize("kw, code", [
    ({"id": "x" * 41}, "invalid_election_id"),
    ({"title": " "}, "invalid_questions"),
    ({"questions": []}, "invalid_questions"),
    ({"trustees": []}, "trustee_unknown"),
    ({"trustees": ["org1", "org1"]}, "trustee_unknown"),
    ({"trustees": ["org9"]}, "trustee_unknown"),
    ({"closes_at": 100}, "invalid_times"),
    ({"closes_at": 150}, "invalid_times"),  # in the past ("now" is 160 below)
    ({"questions": parse_questions("\n\n".join(
        "Q [0-20]\n" + "\n".join(f"- {i}" for i in range(20)) for _ in range(6)))},
     "ballot_too_large"),
    ({"trustees": [f"t{i}" for i in range(10)],
      "questions": parse_questions("\n\n".join(
          "Q [1]\n" + "\n".join(f"- {i}" for i in range(15)) for _ in range(3)))},
     "too_many_trustees"),  # 10 trustees x 45 options: the record would not fit one answer
])
def test_an_election_the_chain_would_refuse_is_refused_first(kw, code):
    with pytest.raises(AppError) as err:
        services.check_election(spec(**kw), trustee_orgs=["org1", "org2"]
                                + [f"t{i}" for i in range(10)], now=160)
    assert err.value.code == code
    services.check_election(spec(), trustee_orgs=["org1"], now=160)  # the base passes


def test_counts_come_from_the_record_and_wrong_shares_are_named():
    rec, plain = record([(3, 1, 1), (2, 0, 2)], voters=5, seed=7)
    assert services.result_counts(rec) == plain
    missing = copy.deepcopy(rec)
    del missing["decryptions"]["org2"]
    with pytest.raises(AppError) as err:
        services.result_counts(missing)
    assert err.value.code == "decryptions_missing"
    wrong = copy.deepcopy(rec)
    wrong["decryptions"]["org1"][0][1]["d"] = P.ec.base_mul(5).hex()
    with pytest.raises(AppError) as err:
        services.result_counts(wrong)
    assert err.value.code == "decryption_invalid" and "q0/o1" in err.value.message
    fewer = copy.deepcopy(rec)
    fewer["ballots"] = fewer["ballots"][:1]  # counts above the number of ballots
    with pytest.raises(AppError) as err:
        services.result_counts(fewer)
    assert err.value.code == "tally_undecryptable"
