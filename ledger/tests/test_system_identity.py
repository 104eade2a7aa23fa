"""_identity system chaincode: organisations, members, roles and validator updates."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger.app import ValidatorUpdate
from ledger.errors import Code
from ledger.testing import Chain, seeded, start_chain


@pytest.fixture
def chain(tmp_path: Path) -> Iterator[Chain]:
    genesis_validator = seeded("genesis-validator").public_key_bytes
    c = start_chain(tmp_path / "app", validators=[ValidatorUpdate(genesis_validator, 10)])
    yield c
    c.app.close()


def codes(chain: Chain, *txs: bytes) -> list[int]:
    return [r.code for r in chain.block(*txs).tx_results]


def test_admin_registers_org_and_member_who_can_then_transact(chain: Chain) -> None:
    newcomer = seeded("newcomer")
    assert chain.app.check_tx(chain.tx(newcomer, "kv", "put", ["a", 1])).code == \
        Code.UNKNOWN_SIGNER
    assert codes(chain,
                 chain.tx("admin1", "_identity", "add_org", ["org4", "Org Four"]),
                 chain.tx("admin1", "_identity", "add_member",
                          ["org4", "alice", newcomer.public_key_hex, ["clerk"]])) == [0, 0]
    assert codes(chain, chain.tx(newcomer, "kv", "put", ["a", 1])) == [0]
    member = chain.value("_identity", "get_member", [newcomer.public_key_hex])
    assert (member["org"], member["member"], member["roles"]) == ("org4", "alice", ["clerk"])
    assert [o["id"] for o in chain.value("_identity", "list_orgs")] == \
        ["org1", "org2", "org3", "org4"]


def test_non_admin_writes_are_refused(chain: Chain) -> None:
    assert codes(chain, chain.tx("user1", "_identity", "add_org", ["x", "X"])) == \
        [Code.UNAUTHORIZED]
    assert codes(chain, chain.tx("user1", "_identity", "set_roles",
                                 [chain.keys["user1"].public_key_hex, ["admin"]])) == \
        [Code.UNAUTHORIZED]


def test_bad_arguments_get_clear_codes(chain: Chain) -> None:
    r = chain.block(
        chain.tx("admin1", "_identity", "add_member", ["nope", "bob", "ab" * 32]),
        chain.tx("admin1", "_identity", "add_member", ["org1", "bob", "not-hex"]),
        chain.tx("admin1", "_identity", "add_org", ["org1", "again"]),
        chain.tx("admin1", "_identity", "add_org", {"wrong": 1}),
    ).tx_results
    assert [x.code for x in r] == [Code.NOT_FOUND, Code.INVALID_ARGUMENT,
                                   Code.INVALID_ARGUMENT, Code.INVALID_ARGUMENT]
    assert "does not exist" in r[0].log and "64 lowercase hex" in r[1].log


def test_roles_change_and_member_removal(chain: Chain) -> None:
    user = chain.keys["user1"].public_key_hex
    assert codes(chain, chain.tx("admin1", "_identity", "set_roles", [user, ["admin"]])) == [0]
    # user1 is now an admin and may add an organisation
    assert codes(chain, chain.tx("user1", "_identity", "add_org", ["org9", "Nine"])) == [0]
    assert codes(chain, chain.tx("admin1", "_identity", "remove_member", [user])) == [0]
    assert chain.app.check_tx(chain.tx("user1", "kv", "put", ["a", 1])).code == \
        Code.UNKNOWN_SIGNER
    assert codes(chain, chain.tx("admin1", "_identity", "remove_member",
                                 [chain.keys["admin1"].public_key_hex])) == \
        [Code.INVALID_ARGUMENT]


def test_node_changes_yield_validator_updates(chain: Chain) -> None:
    node = seeded("node-5")
    added = chain.block(chain.tx("admin1", "_identity", "add_node",
                                 ["org2", "org2-validator", node.public_key_hex, 5]))
    assert added.tx_results[0].code == 0, added.tx_results[0].log
    assert added.validator_updates == [ValidatorUpdate(node.public_key_bytes, 5)]
    # two changes to the same key in one block: CometBFT gets one update, the last one
    both = chain.block(
        chain.tx("admin1", "_identity", "set_node_power", [node.public_key_hex, 7]),
        chain.tx("admin1", "_identity", "remove_node", [node.public_key_hex]),
    )
    assert [r.code for r in both.tx_results] == [0, 0]
    assert both.validator_updates == [ValidatorUpdate(node.public_key_bytes, 0)]
    assert chain.block().validator_updates == []
    assert [n["name"] for n in chain.value("_identity", "list_nodes")] == \
        ["genesis-validator-0"]


def test_last_validator_cannot_be_removed(chain: Chain) -> None:
    only = seeded("genesis-validator").public_key_hex
    result = chain.block(chain.tx("admin1", "_identity", "remove_node", [only]))
    assert result.tx_results[0].code == Code.INVALID_ARGUMENT
    assert result.validator_updates == []


def test_failed_validator_tx_emits_no_update(chain: Chain) -> None:
    node = seeded("node-6")
    result = chain.block(chain.tx("user1", "_identity", "add_node",
                                  ["org1", "n", node.public_key_hex, 5]))
    assert result.tx_results[0].code == Code.UNAUTHORIZED
    assert result.validator_updates == []
