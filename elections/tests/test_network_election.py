"""An election end to end on a real 4-validator CometBFT network.

Trustees post key shares, voters cast encrypted ballots by their own keys (every validator
checks every proof), the chain refuses the cheats it must refuse, the trustees decrypt, the
commission publishes, and the independent verifier finds the record VALID when read from
any node, and INVALID once tampered with. One network and one election for the module:
starting four validators costs seconds, and the schedule is in block time.
"""

from __future__ import annotations

import copy
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest

from elections import protocol as P
from elections.tests.network import Election, ElectionNet, signer
from elections.verify import Invalid, record_from_node, verify_record
from ledger.client import TxRejected

pytestmark = [pytest.mark.cometbft, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
QUESTIONS = [
    {"id": "mayor", "title": "Mayor", "min_choices": 1, "max_choices": 1,
     "options": [{"id": o, "title": o.title()} for o in ("kim", "lee", "park")]},
    {"id": "budget", "title": "Budget items", "min_choices": 0, "max_choices": 2,
     "options": [{"id": o, "title": o.title()} for o in ("park", "library", "bus")]},
]
VOTERS = 8
OPEN_FOR = 25  # seconds of block time the voting stays open


@pytest.fixture(scope="module")
def net(tmp_path_factory):
    import shutil

    from conftest import require_service

    require_service("cometbft", shutil.which("cometbft") is not None, "cometbft not on PATH")
    net = ElectionNet(tmp_path_factory.mktemp("voting-net"))
    net.start()
    try:
        net.deploy()
        yield net
    finally:
        net.stop()


def refused(net, key, function, args, reason):
    with pytest.raises(TxRejected) as err:
        net.send(key, function, args)
    assert reason in err.value.log, err.value.log


@pytest.fixture(scope="module")
def election(net):
    """The election run to the end; the steps that must be refused are tried on the way."""
    rng = random.Random(14)
    voters = [signer(f"voter-{i}") for i in range(VOTERS)]
    outsider = signer("not-on-the-roll")
    now = int(time.time())
    elec = Election(net, "e1", QUESTIONS, voters, opens_at=now, closes_at=now + OPEN_FOR)
    early = elec.ballot(voters[0], [[1, 0, 0], [0, 0, 0]])
    refused(net, voters[0], "cast", {"id": "e1", "ballot": early.ballot}, "not open")
    elec.open()

    plain = [[0] * 3, [0] * 3]
    choices = []
    for _ in voters:
        pick = [[0, 0, 0], [0, 0, 0]]
        pick[0][rng.randrange(3)] = 1
        for j in rng.sample(range(3), rng.randint(0, 2)):
            pick[1][j] = 1
        choices.append(pick)
    sealed = [elec.ballot(v, c) for v, c in zip(voters, choices, strict=True)]
    for voter, ballot, pick in zip(voters, sealed, choices, strict=True):
        net.send(voter, "cast", {"id": "e1", "ballot": ballot.ballot})
        for qi, row in enumerate(pick):
            for oj, m in enumerate(row):
                plain[qi][oj] += m

    # refused while open: a replay, a second ballot, a copied ballot, an outsider,
    # a decryption before closing
    refused(net, voters[0], "cast", {"id": "e1", "ballot": sealed[0].ballot}, "already voted")
    other = elec.ballot(voters[1], [[0, 1, 0], [0, 0, 0]])
    refused(net, voters[1], "cast", {"id": "e1", "ballot": other.ballot}, "already voted")
    refused(net, outsider, "cast", {"id": "e1", "ballot": sealed[2].ballot}, "not on the roll")
    shares = P.partial_decrypt(elec.eh, "org1", elec.keys["org1"], elec.tallies(),
                               elec.board())
    refused(net, net.admins["org1"], "post_decryption", {"id": "e1", "shares": shares},
            "closed")

    net.wait_until(elec.info["closes_at"])
    late = elec.ballot(voters[0], [[1, 0, 0], [0, 0, 0]])
    refused(net, voters[0], "cast", {"id": "e1", "ballot": late.ballot}, "closed")
    elec.close()
    elec.decrypt()
    counts = elec.publish(VOTERS)
    return elec, plain, counts, sealed


def test_published_counts_equal_plain_counting(election):
    _elec, plain, counts, _sealed = election
    assert counts == plain


def test_trackers_are_on_the_board(net, election):
    elec, _plain, _counts, sealed = election
    found = net.read("find_tracker", {"id": "e1", "tracker": sealed[3].tracker})
    assert found is not None and found["voter"] == elec.voters[3].public_key_hex


def test_every_node_gives_a_valid_record(net, election):
    elec, _plain, _counts, sealed = election
    board = net.read("get_election", {"id": "e1"})["board"]
    assert board == P.board_hash(elec.eh, [s.tracker for s in sealed])
    for url in net.urls:
        record = record_from_node(url, "e1")
        assert len(record["ballots"]) == record["ballot_count"] == VOTERS
        assert net.read("list_voters", {"id": "e1"}, url=url) == record["roll"]
        verify_record(record, board=board)


def test_verifier_command_reads_a_node(net, election):
    run = subprocess.run([sys.executable, "-m", "elections.verify", "--node", net.urls[2],
                          "--election", "e1"], cwd=ROOT, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0 and run.stdout.startswith("VALID"), run.stdout + run.stderr


def test_tampered_record_from_a_node_is_invalid(net, election):
    record = record_from_node(net.urls[1], "e1")
    bad = copy.deepcopy(record)
    bad["result"][0] = list(reversed(bad["result"][0]))
    if bad["result"][0] == record["result"][0]:  # a palindrome of counts: change one
        bad["result"][0][0] += 1
    with pytest.raises(Invalid):
        verify_record(bad)
