"""A real 4-validator CometBFT network on loopback running our chaincode host.

One network is shared by the tests of this module (starting four validators costs several
seconds); every test leaves all four nodes running. The scenarios are the fault cases of
issue 3: commit through different nodes, one validator down, two of four down (halt), and a
``kill -9`` in the middle of load. Waits have generous deadlines; they bound liveness and
never measure speed.
"""

from __future__ import annotations

import base64
import shutil
import threading
import time
from pathlib import Path

import pytest

from conftest import require_service
from ledger.client import LedgerClient, LedgerClientError
from ledger.network import create_operator_key, generate_network, local_nodes
from ledger.node import node_pid, start_background, stop_background, wait_ready
from ledger.tx import Signer

pytestmark = [pytest.mark.cometbft, pytest.mark.slow]

CHAIN_ID = "ledger-test"
DEADLINE = 90.0  # seconds a liveness wait may take on a loaded 2-core CI machine


class Net:
    def __init__(self, root: Path, validators: int = 4) -> None:
        from ledger.cli import build_app_state

        key, public_hex = create_operator_key(root)
        self.signer = Signer.from_private_bytes(key)
        self.nodes = local_nodes(validators)
        self.homes = generate_network(chain_id=CHAIN_ID, nodes=self.nodes, out_dir=root,
                                      app_state=build_app_state(public_hex))
        self.urls = [f"http://127.0.0.1:{n.rpc_port}" for n in self.nodes]
        self.clients = [LedgerClient(u, signer=self.signer, chain_id=CHAIN_ID, timeout=20)
                        for u in self.urls]

    def start(self, *indexes: int) -> None:
        for i in indexes:
            start_background(self.homes[i])
        for i in indexes:
            wait_ready(self.urls[i], timeout=DEADLINE, pid=node_pid(self.homes[i]))

    def stop(self, *indexes: int, hard: bool = False) -> None:
        for i in indexes:
            assert stop_background(self.homes[i], hard=hard) in ("stopped", "killed")

    def running(self) -> list[int]:
        return [i for i, h in enumerate(self.homes) if node_pid(h) is not None]

    def height(self, i: int) -> int:
        return self.clients[i].height()

    def wait_height(self, i: int, target: int) -> None:
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline:
            try:
                if self.height(i) >= target:
                    return
            except LedgerClientError:
                pass  # still starting
            time.sleep(0.25)
        raise AssertionError(f"node{i} did not reach height {target} in {DEADLINE}s")

    def app_hashes(self, i: int, upto: int) -> list[str]:
        """Header app hashes of heights 1..upto as node i stored them."""
        hashes: dict[int, str] = {}
        low = 1
        while low <= upto:
            high = min(upto, low + 19)  # the RPC returns at most 20 headers per call
            res = self.clients[i].rpc("blockchain", {"minHeight": str(low),
                                                     "maxHeight": str(high)})
            for meta in res["block_metas"]:
                hashes[int(meta["header"]["height"])] = meta["header"]["app_hash"]
            low = high + 1
        return [hashes[h] for h in range(1, upto + 1)]

    def abci_app_hash(self, i: int) -> tuple[int, str]:
        """(last height, app hash) that node i's ABCI app itself reports (Info, via RPC)."""
        info = self.clients[i].rpc("abci_info")["response"]
        app_hash = base64.b64decode(info.get("last_block_app_hash") or "").hex().upper()
        return int(info.get("last_block_height", 0)), app_hash

    def assert_same_history(self, indexes: list[int]) -> int:
        """Every node in ``indexes`` holds the same app hash at every height; returns it.

        Headers are signed by the validator set, so every node stores the same ones; the
        apps' own answers are compared too: each app's hash for its last committed block
        must be the one consensus recorded in the next header (here as node
        ``indexes[0]`` stored it), so an app whose state diverged is caught directly.
        """
        upto = min(self.height(i) for i in indexes)
        histories = {i: self.app_hashes(i, upto) for i in indexes}
        reference = histories[indexes[0]]
        assert reference[-1], "the app hash must commit to the state"
        for i, hashes in histories.items():
            diverged = [h + 1 for h, (a, b) in enumerate(zip(reference, hashes, strict=True))
                        if a != b]
            assert not diverged, f"node{i} differs from node{indexes[0]} at heights {diverged}"
        for i in indexes:
            height, app_hash = self.abci_app_hash(i)
            assert height > 0, f"node{i}'s app reports no committed block"
            self.wait_height(indexes[0], height + 1)
            recorded = self.clients[indexes[0]].app_hash_at(height)
            assert app_hash == recorded, (
                f"node{i}'s app reports app hash {app_hash} for height {height}; consensus "
                f"recorded {recorded}")
        return upto

    def get(self, i: int, key: str):
        return self.clients[i].call("kv", "get", [key])

    def wait_committed(self, i: int, key: str) -> None:
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline:
            try:
                if self.get(i, key) is not None:
                    return
            except LedgerClientError:
                pass
            time.sleep(0.25)
        raise AssertionError(f"{key} not committed on node{i} in {DEADLINE}s")

    def close(self) -> None:
        for i in range(len(self.homes)):
            stop_background(self.homes[i])
        for c in self.clients:
            c.close()


@pytest.fixture(scope="module")
def net(tmp_path_factory):
    require_service("cometbft", shutil.which("cometbft") is not None,
                    "run scripts/install-cometbft.sh")
    network = Net(tmp_path_factory.mktemp("net4"))
    try:
        network.start(0, 1, 2, 3)
        yield network
    finally:
        network.close()


@pytest.fixture
def healthy(net):
    """Each test starts and ends with all four validators running."""
    net.start(*[i for i in range(4) if i not in net.running()])
    yield net
    net.start(*[i for i in range(4) if i not in net.running()])


def test_txs_sent_to_different_nodes_commit_and_all_agree(healthy):
    net = healthy
    for i in range(4):
        res = net.clients[i].submit("kv", "put", [f"via{i}", f"node{i}"], wait="commit")
        assert res.code == 0 and res.height > 0
    top = max(net.height(i) for i in range(4))
    for i in range(4):
        net.wait_height(i, top)
        assert [net.get(i, f"via{j}") for j in range(4)] == [f"node{j}" for j in range(4)]
    assert net.assert_same_history([0, 1, 2, 3]) >= top


def test_one_validator_down_blocks_continue_and_it_catches_up(healthy):
    net = healthy
    net.stop(3)
    start = max(net.height(i) for i in range(3))
    res = net.clients[0].submit("kv", "put", ["while-3-down", "yes"], wait="commit")
    assert res.height > start
    net.wait_height(1, start + 3)  # three validators of four keep making blocks

    net.start(3)
    net.wait_height(3, net.height(0))
    assert net.get(3, "while-3-down") == "yes"
    net.assert_same_history([0, 1, 2, 3])


def test_two_of_four_down_halts_then_resumes_without_fork(healthy):
    net = healthy
    net.stop(2, 3)
    time.sleep(3)  # let a round that already had 3 precommits finish
    halted_at = net.height(0)
    pending = net.clients[0].submit("kv", "put", ["during-halt", "queued"], wait="sync")
    time.sleep(6)  # several block intervals: with 2 of 4 votes nothing may commit
    assert net.height(0) == halted_at
    assert net.height(1) == halted_at

    net.start(2, 3)
    for i in range(4):
        net.wait_height(i, halted_at + 2)
    committed = net.clients[0].tx(pending.hash)
    assert int(committed["height"]) > halted_at
    assert net.get(2, "during-halt") == "queued"
    net.assert_same_history([0, 1, 2, 3])


def test_kill_9_mid_load_recovers_to_the_same_state(healthy):
    net = healthy
    sent: list[str] = []
    stop = threading.Event()

    def load() -> None:
        n = 0
        while not stop.is_set():
            target = (0, 2, 3)[n % 3]
            try:
                net.clients[target].submit("kv", "put", [f"load{n}", str(n)], wait="sync")
                sent.append(f"load{n}")
            except LedgerClientError:
                pass
            n += 1
            time.sleep(0.01)

    worker = threading.Thread(target=load, daemon=True)
    worker.start()
    try:
        while len(sent) < 50:
            time.sleep(0.1)
        net.stop(1, hard=True)  # kill -9 the ABCI host and cometbft together
        while len(sent) < 150:
            time.sleep(0.1)
    finally:
        stop.set()
        worker.join(30)

    net.start(1)
    net.wait_committed(0, sent[-1])
    top = max(net.height(i) for i in (0, 2, 3)) + 1
    for i in range(4):
        net.wait_height(i, top)
    net.assert_same_history([0, 1, 2, 3])
    for key in (sent[0], sent[len(sent) // 2], sent[-1]):
        assert net.get(1, key) == net.get(0, key) == key[len("load"):]
