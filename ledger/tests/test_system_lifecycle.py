"""_lifecycle system chaincode: install by hash, multi-organisation upgrades, inspection."""

from __future__ import annotations

import hashlib
from pathlib import Path

from ledger.errors import Code
from ledger.testing import Chain, start_chain

COUNTER_V1 = """
@write
def incr(ctx, by=1):
    n = ctx.get("n", 0) + by
    ctx.put("n", n)
    return n

@read
def value(ctx):
    return ctx.get("n", 0)
"""

COUNTER_V2 = COUNTER_V1 + """
@write
def reset(ctx):
    ctx.require_role("admin")
    ctx.put("n", 0)
    return 0
"""


def install(chain: Chain, who: str, name: str, version: str, source: str):
    return chain.block(chain.tx(who, "_lifecycle", "install", [name, version, source]))


def test_install_and_upgrade_keep_state(tmp_path: Path) -> None:
    c = start_chain(tmp_path / "app")
    r = install(c, "admin1", "counter", "1", COUNTER_V1).tx_results[0]
    assert r.code == 0, r.log
    assert c.block(c.tx("user1", "counter", "incr", [5])).tx_results[0].code == 0
    r = install(c, "admin1", "counter", "2", COUNTER_V2).tx_results[0]
    assert r.code == 0, r.log
    assert c.value("counter", "value") == 5  # state survives the upgrade
    assert c.block(c.tx("user1", "counter", "reset")).tx_results[0].code == Code.UNAUTHORIZED
    assert c.block(c.tx("admin1", "counter", "reset")).tx_results[0].code == 0
    info = c.value("_lifecycle", "inspect", ["counter"])["active"]
    assert (info["version"], info["sequence"]) == ("2", 2)
    assert info["code_hash"] == hashlib.sha256(COUNTER_V2.encode()).hexdigest()
    assert c.value("_lifecycle", "get_source", [info["code_hash"]]) == COUNTER_V2
    assert [x["name"] for x in c.value("_lifecycle", "list")] == ["counter", "kv"]
    c.app.close()


def test_rejected_code_is_not_stored(tmp_path: Path) -> None:
    c = start_chain(tmp_path / "app")
    evil = "import os\n@write\ndef f(ctx):\n    return os.getcwd()\n"
    r = install(c, "admin1", "evil", "1", evil).tx_results[0]
    assert r.code == Code.CODE_REJECTED and "import of 'os' is not allowed" in r.log
    assert c.call("_lifecycle", "inspect", ["evil"]).code == Code.NOT_FOUND
    c.app.close()


def test_install_requires_admin_and_valid_names(tmp_path: Path) -> None:
    c = start_chain(tmp_path / "app")
    r = c.block(
        c.tx("user1", "_lifecycle", "install", ["counter", "1", COUNTER_V1]),
        c.tx("admin1", "_lifecycle", "install", ["_sneaky", "1", COUNTER_V1]),
        c.tx("admin1", "_lifecycle", "install", ["counter", "", COUNTER_V1]),
    ).tx_results
    assert [x.code for x in r] == [Code.UNAUTHORIZED, Code.INVALID_ARGUMENT,
                                   Code.INVALID_ARGUMENT]
    c.app.close()


def test_upgrade_needs_approvals_from_enough_organisations(tmp_path: Path) -> None:
    c = start_chain(tmp_path / "app", min_organisations=2)
    status = install(c, "admin1", "counter", "1", COUNTER_V1).tx_results[0]
    assert status.code == 0
    assert b'"status":"pending"' in status.data
    assert c.app.check_tx(c.tx("admin1", "counter", "incr")).code == Code.UNKNOWN_CHAINCODE
    code_hash = hashlib.sha256(COUNTER_V1.encode()).hexdigest()
    r = c.block(
        c.tx("admin1", "_lifecycle", "approve", ["counter", "1", code_hash]),
        c.tx("admin2", "_lifecycle", "approve", ["counter", "1", "ab" * 32]),
    ).tx_results
    assert [x.code for x in r] == [Code.INVALID_ARGUMENT, Code.INVALID_ARGUMENT]
    assert "already approved" in r[0].log and "does not match" in r[1].log
    r = c.block(c.tx("admin2", "_lifecycle", "approve", ["counter", "1", code_hash]))
    assert r.tx_results[0].code == 0 and b'"status":"active"' in r.tx_results[0].data
    assert c.block(c.tx("user1", "counter", "incr", [3])).tx_results[0].code == 0

    # v2 proposed by org2 only: v1 keeps running until a second organisation approves
    install(c, "admin2", "counter", "2", COUNTER_V2)
    assert c.app.check_tx(c.tx("admin1", "counter", "reset")).code == Code.UNKNOWN_FUNCTION
    pending = c.value("_lifecycle", "inspect", ["counter"])["pending"]
    assert [(p["version"], p["approvals"]) for p in pending] == [("2", ["org2"])]
    # approving by re-submitting the same source also counts
    assert install(c, "admin3", "counter", "2", COUNTER_V2).tx_results[0].code == 0
    assert c.value("counter", "value") == 3
    assert c.block(c.tx("admin1", "counter", "reset")).tx_results[0].code == 0
    c.app.close()


def test_every_node_installs_the_same_code(tmp_path: Path) -> None:
    hashes = []
    for node in ("a", "b"):
        c = start_chain(tmp_path / node)
        tx = c.tx("admin1", "_lifecycle", "install", ["counter", "1", COUNTER_V1],
                  nonce="00" * 16)
        hashes.append(c.block(tx).app_hash)
        c.app.close()
    assert hashes[0] == hashes[1]
