"""A real CometBFT network with the voting bundle deployed, and an election driven on it.

Shared by the end-to-end test (``test_network_election.py``) and ``bench/voting.py``: two
organisations (``org1`` is the commission and a trustee, ``org2`` a trustee), open access
so that voters' own keys may send transactions, the bundle installed and initialised as the
platform would.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from elections import protocol as P
from ledger.client import LedgerClient, LedgerClientError
from ledger.genesis import make_app_state, member, organisation
from ledger.network import generate_network, local_nodes
from ledger.node import node_pid, start_background, stop_background, wait_ready
from ledger.tx import Signer, build_tx

CHAIN_ID = "voting-test"
CHAINCODE = "voting"
DEADLINE = 90.0  # seconds a liveness wait may take on a loaded 2-core machine
BUNDLE = Path(__file__).resolve().parents[2] / "sectors" / "bundles" / "voting"
TRUSTEES = ["org1", "org2"]


def signer(name: str) -> Signer:
    return Signer.from_private_bytes(name.encode().ljust(32, b"."))


class ElectionNet:
    def __init__(self, root: Path, validators: int = 4) -> None:
        self.admins = {"org1": signer("vote-admin1"), "org2": signer("vote-admin2")}
        orgs = [organisation(org, org.upper(), [member("admin", key.public_key_hex, ["admin"])])
                for org, key in self.admins.items()]
        self.nodes = local_nodes(validators)
        self.homes = generate_network(
            chain_id=CHAIN_ID, nodes=self.nodes, out_dir=root,
            app_state=make_app_state(organisations=orgs, open_access=True))
        self.urls = [f"http://127.0.0.1:{n.rpc_port}" for n in self.nodes]
        self.client = LedgerClient(self.urls[0], chain_id=CHAIN_ID, timeout=30)

    def start(self) -> None:
        for home in self.homes:
            start_background(home)
        for url, home in zip(self.urls, self.homes, strict=True):
            wait_ready(url, timeout=DEADLINE, pid=node_pid(home))

    def stop(self) -> None:
        for home in self.homes:
            stop_background(home)
        self.client.close()

    def tx(self, key: Signer, function: str, args: Any, chaincode: str = CHAINCODE) -> bytes:
        return build_tx(signer=key, chain_id=CHAIN_ID, chaincode=chaincode, function=function,
                        args=args)

    def send(self, key: Signer, function: str, args: Any, chaincode: str = CHAINCODE) -> Any:
        """Send and wait for the commit; raises ``TxRejected`` when the chain refuses."""
        result = self.client.broadcast(self.tx(key, function, args, chaincode), wait="commit")
        return json.loads(result.data) if result.data else None

    def read(self, function: str, args: Any, url: str | None = None) -> Any:
        if url is None:
            return self.client.call(CHAINCODE, function, args)
        with LedgerClient(url, chain_id=CHAIN_ID, timeout=30) as client:
            return client.call(CHAINCODE, function, args)

    def deploy(self) -> None:
        from sectors.bundle import load_dir

        bundle = load_dir(BUNDLE)
        admin = self.admins["org1"]
        self.send(admin, "install", {"name": bundle.name, "version": bundle.version,
                                     "source": bundle.contract}, chaincode="_lifecycle")
        self.send(admin, "init", {"roles": {"commission": ["org1"], "trustee": TRUSTEES}})

    def wait_until(self, seconds: int) -> None:
        """Wait until blocks are committed with a time after ``seconds`` (unix time): the
        wall clock passes it, then two more blocks (BFT time follows the validators'
        clocks, all this machine's)."""
        time.sleep(max(0.0, seconds + 1 - time.time()))
        deadline = time.monotonic() + DEADLINE
        start = None
        while time.monotonic() < deadline:
            try:
                height = self.client.height()
                start = height if start is None else start
                if height >= start + 2:
                    return
            except LedgerClientError:
                pass
            time.sleep(0.25)
        raise AssertionError(f"no new blocks after {seconds} within {DEADLINE}s")


class Election:
    """One election on an ``ElectionNet``: the commission's, trustees' and voters' steps."""

    def __init__(self, net: ElectionNet, election_id: str, questions: list[dict[str, Any]],
                 voters: list[Signer], *, opens_at: int, closes_at: int) -> None:
        self.net, self.id, self.voters = net, election_id, voters
        self.questions = questions
        commission = net.admins["org1"]
        net.send(commission, "create_election", {
            "id": election_id, "title": f"Election {election_id}", "questions": questions,
            "trustees": TRUSTEES, "opens_at": opens_at, "closes_at": closes_at})
        for start in range(0, len(voters), 500):
            net.send(commission, "add_voters", {
                "id": election_id,
                "voters": [v.public_key_hex for v in voters[start:start + 500]]})
        self.info = net.read("get_election", {"id": election_id})
        self.eh = self.info["eh"]
        self.keys = {t: P.trustee_keygen(self.eh, t) for t in TRUSTEES}
        for trustee in TRUSTEES:
            posted = self.keys[trustee].posted()
            net.send(net.admins[trustee], "post_trustee_key",
                     {"id": election_id, "public": posted["public"], "proof": posted["proof"]})
        self.joint = P.joint_key([self.keys[t].public for t in TRUSTEES])
        self.qs = P.questions_of({"questions": questions})

    def open(self) -> None:
        self.net.send(self.net.admins["org1"], "open_election", {"id": self.id})

    def ballot(self, voter: Signer, choices: list[list[int]]) -> P.SealedBallot:
        return P.encrypt_ballot(self.eh, voter.public_key_hex, self.joint, self.qs, choices)

    def cast_tx(self, voter: Signer, sealed: P.SealedBallot) -> bytes:
        return self.net.tx(voter, "cast", {"id": self.id, "ballot": sealed.ballot})

    def close(self) -> None:
        self.net.send(self.net.admins["org1"], "close_election", {"id": self.id})

    def tallies(self) -> list[list[P.Ciphertext]]:
        record = self.net.read("election_record", {"id": self.id})
        return [[P.Ciphertext.from_json(ct) for ct in row] for row in record["tally"]]

    def board(self) -> str:
        return self.net.read("get_election", {"id": self.id})["board"]

    def decrypt(self) -> None:
        sums = self.tallies()
        board = self.board()
        for trustee in TRUSTEES:
            shares = P.partial_decrypt(self.eh, trustee, self.keys[trustee], sums, board)
            self.net.send(self.net.admins[trustee], "post_decryption",
                          {"id": self.id, "shares": shares})

    def publish(self, ballots: int) -> list[list[int]]:
        record = self.net.read("election_record", {"id": self.id})
        sums = [[P.Ciphertext.from_json(ct) for ct in row] for row in record["tally"]]
        shares = [record["decryptions"][t] for t in TRUSTEES]
        counts = P.counts(P.combine(sums, shares), ballots)
        self.net.send(self.net.admins["org1"], "publish_result", {"id": self.id,
                                                                    "counts": counts})
        return counts
