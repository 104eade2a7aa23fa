"""LedgerApp end to end in process: admission, execution, determinism, restart, queries."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger.app import TX_WINDOW_PAST_MS, LedgerApp, ValidatorUpdate
from ledger.errors import Code
from ledger.state import verify_proof
from ledger.testing import CHAIN_ID, T0, Chain, seeded, start_chain
from ledger.tx import build_tx


@pytest.fixture
def chain(tmp_path: Path) -> Iterator[Chain]:
    c = start_chain(tmp_path / "app")
    yield c
    c.app.close()


def test_new_app_reports_nothing_committed(tmp_path: Path) -> None:
    app = LedgerApp(tmp_path / "fresh")
    assert app.info() == (0, b"")
    app.close()


def test_put_then_get(chain: Chain) -> None:
    result = chain.block(chain.tx("admin1", "kv", "put", ["colour", "blue"]))
    [tx] = result.tx_results
    assert tx.code == 0, tx.log
    assert json.loads(tx.data) is True and tx.gas_used > 0
    assert tx.events[0].type == "tx"
    assert ("key", "colour") in tx.events[1].attributes
    assert chain.app.info() == (1, result.app_hash)
    assert chain.value("kv", "get", ["colour"]) == "blue"
    state = chain.app.query(path="/state", data=b"kv/colour")
    assert (state.code, state.value, state.height) == (0, b'"blue"', 1)


SPOOF = """
@write
def forge(ctx, key):
    ctx.emit("kv_put", key=key, chaincode="kv")

@write
def honest(ctx, key):
    ctx.emit("kv_put", key=key)
"""


def test_chaincode_cannot_forge_the_host_chaincode_attribute(chain: Chain) -> None:
    """Subscribers to kv_put.chaincode='kv' must only see events the kv chaincode emitted."""
    install = chain.tx("admin1", "_lifecycle", "install", ["spoof", "1", SPOOF])
    assert chain.block(install).tx_results[0].code == 0
    forged, honest = chain.block(chain.tx("admin1", "spoof", "forge", ["a"]),
                                 chain.tx("admin1", "spoof", "honest", ["b"])).tx_results
    assert (forged.code, forged.log, forged.events) == (
        Code.INVALID_ARGUMENT,
        "event attribute 'chaincode' is reserved: the host sets it to the emitting "
        "chaincode's name", [])
    assert honest.code == 0, honest.log
    [event] = [e for e in honest.events if e.type == "kv_put"]
    assert event.attributes == [("key", "b"), ("chaincode", "spoof")]


def test_check_tx_admission_codes(chain: Chain) -> None:
    app = chain.app
    assert app.check_tx(chain.tx("admin1", "kv", "put", ["a", 1])).code == 0
    assert app.check_tx(b"garbage").code == Code.MALFORMED_TX
    other_chain = build_tx(signer=chain.keys["admin1"], chain_id="other", chaincode="kv",
                           function="put", args=["a", 1])
    assert app.check_tx(other_chain).code == Code.WRONG_CHAIN
    assert app.check_tx(chain.tx("outsider", "kv", "put", ["a", 1])).code == Code.UNKNOWN_SIGNER
    assert app.check_tx(chain.tx("admin1", "nope", "put", [])).code == Code.UNKNOWN_CHAINCODE
    assert app.check_tx(chain.tx("admin1", "kv", "nope", [])).code == Code.UNKNOWN_FUNCTION
    stale = chain.tx("admin1", "kv", "put", ["a", 1], time_ms=1_000)
    result = app.check_tx(stale)
    assert (result.code, result.codespace) == (Code.TX_EXPIRED, "ledger")


def test_finalize_rechecks_and_rejects_replays(chain: Chain) -> None:
    tx = chain.tx("admin1", "kv", "put", ["a", 1])
    first = chain.block(tx, tx)
    assert [r.code for r in first.tx_results] == [0, Code.REPLAYED_TX]
    assert chain.app.check_tx(tx).code == Code.REPLAYED_TX
    again = chain.block(tx)
    assert again.tx_results[0].code == Code.REPLAYED_TX
    # A tx signed with a time far from the block time fails in FinalizeBlock too.
    old = chain.tx("admin1", "kv", "put", ["b", 1],
                   time_ms=T0 // 10**6 - TX_WINDOW_PAST_MS - 1)
    assert chain.block(old).tx_results[0].code == Code.TX_EXPIRED
    assert chain.block(b"not a tx").tx_results[0].code == Code.MALFORMED_TX


def test_concurrent_txs_from_one_signer_all_commit(chain: Chain) -> None:
    txs = [chain.tx("admin1", "kv", "put", [f"k{i}", i]) for i in range(50)]
    result = chain.block(*reversed(txs))  # any order: no per-signer sequence
    assert all(r.code == 0 for r in result.tx_results)
    assert chain.value("kv", "scan", ["k", "l", 100])[0] == ["k0", 0]


def test_failed_tx_leaves_state_untouched_but_spends_the_nonce(chain: Chain) -> None:
    chain.block(chain.tx("admin1", "kv", "put", ["a", 1]))
    before = chain.app.info()[1]
    bad = chain.tx("admin1", "kv", "delete", ["missing"])
    result = chain.block(bad)
    assert result.tx_results[0].code == Code.CHAINCODE_ERROR
    assert result.tx_results[0].log == "no such key: missing"
    assert result.app_hash == before
    assert chain.block(bad).tx_results[0].code == Code.REPLAYED_TX


def test_user_cannot_write_system_chaincode(chain: Chain) -> None:
    tx = chain.tx("user1", "_identity", "add_org", ["evil", "Evil"])
    result = chain.block(tx).tx_results[0]
    assert result.code == Code.UNAUTHORIZED


def _replay(path: Path, blocks: list[list[bytes]]) -> list[bytes]:
    c = start_chain(path)
    hashes = []
    for txs in blocks:
        hashes.append(c.block(*txs).app_hash)
    c.app.close()
    return hashes


def test_two_nodes_reach_the_same_app_hashes(tmp_path: Path) -> None:
    c = start_chain(tmp_path / "source")
    blocks = [
        [c.tx("admin1", "kv", "put", [f"k{i}", {"n": i}]) for i in range(10)],
        [c.tx("admin1", "kv", "delete", ["k3"]), c.tx("admin1", "kv", "delete", ["k3"])],
        [c.tx("user1", "kv", "put", ["u", "x" * 1000])],
    ]
    c.app.close()
    assert _replay(tmp_path / "node-a", blocks) == _replay(tmp_path / "node-b", blocks)


def test_restart_resumes_from_the_last_commit(tmp_path: Path) -> None:
    c = start_chain(tmp_path / "app")
    c.block(c.tx("admin1", "kv", "put", ["a", 1]))
    committed = c.app.info()
    # finalize block 2 but "crash" before commit: it must be re-executable after restart
    tx2 = c.tx("admin1", "kv", "put", ["b", 2])
    c.height += 1
    expected = c.app.finalize_block(height=2, time_ns=c.time_ns, proposer=b"", txs=[tx2])
    c.app.close()
    app = LedgerApp(tmp_path / "app")
    assert app.info() == committed
    again = app.finalize_block(height=2, time_ns=c.time_ns, proposer=b"", txs=[tx2])
    assert again.app_hash == expected.app_hash and again.tx_results[0].code == 0
    app.commit()
    assert app.info() == (2, expected.app_hash)
    app.close()


def test_crash_before_first_commit_allows_init_chain_again(tmp_path: Path) -> None:
    first = start_chain(tmp_path / "app")
    genesis_hash = first.app.store.root()
    first.app.close()
    again = start_chain(tmp_path / "app")
    assert again.app.store.root() == genesis_hash
    assert again.app.info() == (0, b"")
    again.app.close()


def test_queries_at_a_height_and_with_proof(chain: Chain) -> None:
    chain.block(chain.tx("admin1", "kv", "put", ["a", "old"]))
    chain.block(chain.tx("admin1", "kv", "put", ["a", "new"]))
    assert json.loads(chain.call("kv", "get", ["a"], height=1).value) == "old"
    assert json.loads(chain.call("kv", "get", ["a"]).value) == "new"
    result = chain.app.query(path="/state", data=b"kv/a", height=1, prove=True)
    proof = json.loads(result.proof)
    assert bytes.fromhex(proof["app_hash"]) == chain.app.store.app_hash_at(1)
    assert verify_proof(key=b"kv/a", value=result.value, proof=proof,
                        app_hash=bytes.fromhex(proof["app_hash"]))
    assert chain.app.query(path="/state", data=b"kv/zz").code == Code.NOT_FOUND
    assert chain.app.query(path="/state", data=b"kv/a", height=99).code == Code.BAD_QUERY
    assert chain.app.query(path="/nope", data=b"").code == Code.BAD_QUERY
    assert chain.app.query(path="/call", data=b"{").code == Code.BAD_QUERY
    assert chain.call("kv", "put", ["a", 1]).code == Code.READ_ONLY


def test_identity_and_chaincode_queries(chain: Chain) -> None:
    chain.block()
    pk = chain.keys["user1"].public_key_hex
    member = json.loads(chain.app.query(path="/identity", data=pk.encode()).value)
    assert (member["org"], member["member"], member["roles"]) == ("org1", "user", [])
    assert chain.app.query(path="/identity", data=b"00" * 32).code == Code.NOT_FOUND
    info = json.loads(chain.app.query(path="/chaincode", data=b"kv").value)
    assert info["version"] == "1.0.0" and info["exports"]["put"] == "write"
    listed = json.loads(chain.app.query(path="/chaincode", data=b"").value)
    assert [c["name"] for c in listed] == ["kv"]


def test_proposals_drop_garbage_duplicates_and_respect_size(chain: Chain) -> None:
    a = chain.tx("admin1", "kv", "put", ["a", 1])
    b = chain.tx("admin1", "kv", "put", ["b", 2])
    assert chain.app.prepare_proposal([a, b"junk", a, b], max_tx_bytes=10**6) == [a, b]
    assert chain.app.prepare_proposal([a, b], max_tx_bytes=len(a) + 20) == [a]
    assert chain.app.process_proposal([a, b])
    assert not chain.app.process_proposal([a, a])
    assert not chain.app.process_proposal([b"junk"])
    chain.block(a)
    assert chain.app.prepare_proposal([a, b], max_tx_bytes=10**6) == [b]


def test_open_access_lets_unregistered_keys_transact(tmp_path: Path) -> None:
    c = start_chain(tmp_path / "open", open_access=True)
    stranger = seeded("stranger")
    result = c.block(c.tx(stranger, "kv", "put", ["s", 1])).tx_results[0]
    assert result.code == 0
    c.app.close()


def test_genesis_validators_are_recorded(tmp_path: Path) -> None:
    key = seeded("validator").public_key_bytes
    c = start_chain(tmp_path / "v", validators=[ValidatorUpdate(key, 10)])
    c.block()
    nodes = c.value("_identity", "list_nodes")
    assert [(n["public_key"], n["power"], n["org"]) for n in nodes] == [(key.hex(), 10, "")]
    assert CHAIN_ID == c.app.chain_id
    c.app.close()


def test_genesis_validators_belong_to_the_named_organisation(tmp_path: Path) -> None:
    key = seeded("validator").public_key_bytes
    c = start_chain(tmp_path / "v", validators=[ValidatorUpdate(key, 10)], validator_org="org2")
    c.block()
    [node] = c.value("_identity", "list_nodes")
    assert node["org"] == "org2"
    c.app.close()


def _guide_block(after: str) -> str:
    guide = (Path(__file__).resolve().parents[2] / "docs" / "chaincode-guide.md").read_text()
    start = guide.index("```python\n", guide.index(after)) + len("```python\n")
    return guide[start:guide.index("```", start)]


def test_chaincode_guide_example(tmp_path: Path) -> None:
    """The token contract and test printed in docs/chaincode-guide.md work as shown."""
    source = _guide_block("`token.py`:")
    chain = start_chain(tmp_path / "node")
    install = chain.tx("admin1", "_lifecycle", "install", ["token", "1.0.0", source])
    assert chain.block(install).tx_results[0].code == 0
    user = chain.keys["user1"].public_key_hex
    admin = chain.keys["admin1"].public_key_hex
    result = chain.block(chain.tx("admin1", "token", "mint", [admin, 100]),
                         chain.tx("admin1", "token", "transfer", [user, 30]),
                         chain.tx("user1", "token", "mint", [user, 5]),
                         chain.tx("user1", "token", "transfer", [admin, 31]),
                         chain.tx("user1", "token", "transfer", [admin, -1]))
    assert [r.code for r in result.tx_results] == [0, 0, Code.UNAUTHORIZED,
                                                   Code.CHAINCODE_ERROR, Code.CHAINCODE_ERROR]
    assert result.tx_results[3].log == "insufficient funds: 30 < 31"
    assert result.tx_results[4].log == "amount must be a positive integer"
    assert chain.value("token", "balance", [user]) == 30
    assert chain.value("token", "balance", [admin]) == 70
    assert "from ledger.testing import start_chain" in _guide_block("## 2. Test it")
    chain.app.close()


@pytest.mark.parametrize("state, message", [
    (b"[1]", "must be a JSON object"),
    (b'{"surprise": 1}', "unknown app_state fields"),
    (b'{"organisations": [{"id": "o", "members": [{"id": "m", "public_key": "xy"}]}]}',
     "public_key must be 64 hex"),
    (b'{"chaincodes": [{"name": "_kv", "version": "1", "source": ""}]}', "must match"),
    (b'{"chaincodes": [{"name": "bad", "version": "1", "source": "import os"}]}',
     "genesis chaincode 'bad': Line 1: import of 'os' is not allowed"),
    (b'{"upgrade_policy": []}', "upgrade_policy must be an object"),
    (b'{"organisations": [{"id": "o", "members": [{"id": "m", "public_key": "' + b"ab" * 32
     + b'", "roles": "admin"}]}]}', "genesis organisations: roles must be a list"),
    (b'{"organisations": [{"id": "o"}], "upgrade_policy": {"min_organisations": 2}}',
     "exceeds the number of orgs"),
    (b'{"organisations": [{"id": "o"}], "validator_org": "p"}', "not a genesis organisation"),
    (b'{"validator_org": ["o"]}', "validator_org must be an organisation id"),
])
def test_bad_genesis_is_refused_with_a_reason(tmp_path: Path, state: bytes,
                                              message: str) -> None:
    from ledger.genesis import GenesisError

    app = LedgerApp(tmp_path / "g")
    with pytest.raises(GenesisError) as info:
        app.init_chain(chain_id="c", initial_height=1, time_ns=0, validators=[],
                       app_state=state)
    assert message in str(info.value)
    app.close()


MIXED = """
import hashing

@write
def work(ctx, n, mode):
    total = 0
    for i in range(n):
        total += i * i
        if i % 7 == 0:
            ctx.put(f"k{i % 13}", {"i": i, "h": hashing.sha256(str(total))[:8]})
    if mode == "spin":
        while True:
            total += 1
    if mode == "fail":
        raise ContractError(f"failed at {total}")
    if mode == "deep":
        return work(ctx, n, mode)
    if mode == "nested":  # C-level work on shared rows: charged by their nested size
        rows = [[total] * 1000] * 10000
        while True:
            max(rows)
    ctx.emit("worked", n=n, total=total)
    return total
"""


def test_mixed_workload_is_identical_on_two_nodes(tmp_path: Path) -> None:
    """Same blocks, two independent apps: same codes, logs, gas, data, events and hashes."""
    outcomes = []
    for node in ("a", "b"):
        c = start_chain(tmp_path / node)
        install = c.tx("admin1", "_lifecycle", "install", ["mixed", "1", MIXED],
                       nonce="11" * 16)
        blocks = [[install]]
        for b in range(3):
            blocks.append([
                c.tx("admin1", "mixed", "work", [10 + 17 * b + i, mode],
                     nonce=f"{b:02x}{i:02x}" * 8)
                for i, mode in enumerate(["ok", "spin", "fail", "deep", "ok", "nested"])
            ])
        trace = []
        for txs in blocks:
            result = c.block(*txs)
            trace.append((result.app_hash,
                          [(r.code, r.log, r.data, r.gas_used, r.events)
                           for r in result.tx_results]))
        outcomes.append(trace)
        c.app.close()
    assert outcomes[0] == outcomes[1]
    codes = [code for _, results in outcomes[0][1:] for code, *_ in results]
    assert codes[:6] == [0, Code.OUT_OF_GAS, Code.CHAINCODE_ERROR, Code.RESOURCE_LIMIT, 0,
                         Code.OUT_OF_GAS]
    failed_events = [events for _, results in outcomes[0][1:]
                     for code, _, _, _, events in results if code]
    assert all(events == [] for events in failed_events)


def test_block_step_budget_bounds_a_block_of_runaway_calls(
        chain: Chain, monkeypatch: pytest.MonkeyPatch) -> None:
    import ledger.app

    spin = "@write\ndef spin(ctx):\n    while True:\n        pass\n"
    assert chain.block(chain.tx("admin1", "_lifecycle", "install",
                                ["spin", "1", spin])).tx_results[0].code == 0
    monkeypatch.setattr(ledger.app, "BLOCK_STEP_LIMIT", 5_000)
    result = chain.block(chain.tx("admin1", "spin", "spin"),
                         chain.tx("admin1", "spin", "spin"),
                         chain.tx("admin1", "kv", "put", ["a", 1]))
    assert [(r.code, r.log, r.gas_used) for r in result.tx_results] == [
        (Code.OUT_OF_GAS, "execution budget of 5000 steps exhausted", 5_000),
        (Code.OUT_OF_GAS, "block execution budget of 5000 steps exhausted", 0),
        (Code.OUT_OF_GAS, "block execution budget of 5000 steps exhausted", 0),
    ]
    # the next block has a fresh budget
    assert chain.block(chain.tx("admin1", "kv", "put", ["a", 1])).tx_results[0].code == 0
