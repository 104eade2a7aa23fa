"""_identity system chaincode: organisations, members, roles and validator updates."""

from __future__ import annotations

import json
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


def test_new_org_with_its_admin_who_then_registers_members(chain: Chain) -> None:
    boss, clerk = seeded("org4-admin"), seeded("org4-clerk")
    assert chain.app.check_tx(chain.tx(boss, "kv", "put", ["a", 1])).code == \
        Code.UNKNOWN_SIGNER
    result = chain.block(chain.tx("admin1", "_identity", "add_org",
                                  ["org4", "Org Four", boss.public_key_hex, False,
                                   chain.proof(boss, "org4")])).tx_results[0]
    assert result.code == 0, result.log
    assert json.loads(result.data)["status"] == "approved"
    assert codes(chain, chain.tx(boss, "_identity", "add_member",
                                 ["org4", "clerk", clerk.public_key_hex, ["clerk"],
                                  chain.proof(clerk, "org4")])) == [0]
    assert codes(chain, chain.tx(clerk, "kv", "put", ["a", 1])) == [0]
    member = chain.value("_identity", "get_member", [clerk.public_key_hex])
    assert (member["org"], member["member"], member["roles"]) == ("org4", "clerk", ["clerk"])
    assert [o["id"] for o in chain.value("_identity", "list_orgs")] == \
        ["org1", "org2", "org3", "org4"]


def test_admins_manage_only_their_own_organisation(chain: Chain) -> None:
    stranger = seeded("stranger").public_key_hex
    user1 = chain.keys["user1"].public_key_hex
    r = chain.block(
        chain.tx("admin2", "_identity", "add_member", ["org1", "mole", stranger, ["admin"]]),
        chain.tx("admin2", "_identity", "set_roles", [user1, ["admin"]]),
        chain.tx("admin2", "_identity", "remove_member", [user1]),
    ).tx_results
    assert [x.code for x in r] == [Code.UNAUTHORIZED] * 3
    assert "own organisation" in r[0].log


def test_non_admin_writes_are_refused(chain: Chain) -> None:
    assert codes(chain, chain.tx("user1", "_identity", "add_org", ["x", "X"])) == \
        [Code.UNAUTHORIZED]
    assert codes(chain, chain.tx("user1", "_identity", "set_roles",
                                 [chain.keys["user1"].public_key_hex, ["admin"]])) == \
        [Code.UNAUTHORIZED]


def test_bad_arguments_get_clear_codes(chain: Chain) -> None:
    r = chain.block(
        chain.tx("admin1", "_identity", "add_org", ["x", "X", "not-hex"]),
        chain.tx("admin1", "_identity", "add_member", ["org1", "bob", "not-hex"]),
        chain.tx("admin1", "_identity", "add_org", ["org1", "again"]),
        chain.tx("admin1", "_identity", "add_org", {"wrong": 1}),
    ).tx_results
    assert [x.code for x in r] == [Code.INVALID_ARGUMENT, Code.INVALID_ARGUMENT,
                                   Code.INVALID_ARGUMENT, Code.INVALID_ARGUMENT]
    assert "64 lowercase hex" in r[0].log and "64 lowercase hex" in r[1].log


def test_roles_change_and_member_removal(chain: Chain) -> None:
    user = chain.keys["user1"].public_key_hex
    assert codes(chain, chain.tx("admin1", "_identity", "set_roles", [user, ["admin"]])) == [0]
    # user1 is now an admin and may propose an organisation
    assert codes(chain, chain.tx("user1", "_identity", "add_org", ["org9", "Nine"])) == [0]
    assert codes(chain, chain.tx("admin1", "_identity", "remove_member", [user])) == [0]
    assert chain.app.check_tx(chain.tx("user1", "kv", "put", ["a", 1])).code == \
        Code.UNKNOWN_SIGNER
    assert codes(chain, chain.tx("admin1", "_identity", "remove_member",
                                 [chain.keys["admin1"].public_key_hex])) == \
        [Code.INVALID_ARGUMENT]


def test_removing_an_org_drops_its_keys_once_its_validators_left(chain: Chain) -> None:
    boss, node = seeded("org5-admin"), seeded("org5-node")
    assert codes(chain, chain.tx("admin1", "_identity", "add_org",
                                 ["org5", "Org Five", boss.public_key_hex, False,
                                  chain.proof(boss, "org5")]),
                 chain.tx("admin1", "_identity", "add_node",
                          ["org5", "org5-validator", node.public_key_hex, 5])) == [0, 0]
    refused = chain.block(
        chain.tx("admin1", "_identity", "remove_org", ["org5"]),  # still runs a validator
        chain.tx("admin1", "_identity", "remove_org", ["org1"]),  # itself
        chain.tx("admin1", "_identity", "remove_org", ["nope"]),
        chain.tx("user1", "_identity", "remove_org", ["org2"]),  # not an admin
    ).tx_results
    assert [r.code for r in refused] == [Code.INVALID_ARGUMENT, Code.INVALID_ARGUMENT,
                                         Code.NOT_FOUND, Code.UNAUTHORIZED], refused
    assert "org5-validator" in refused[0].log and "remove them first" in refused[0].log
    assert "cannot remove itself" in refused[1].log
    assert codes(chain, chain.tx("admin1", "_identity", "remove_node",
                                 [node.public_key_hex])) == [0]
    removed = chain.block(chain.tx("admin1", "_identity", "remove_org", ["org5"]))
    assert removed.tx_results[0].code == 0, removed.tx_results[0].log
    assert removed.validator_updates == []
    assert chain.value("_identity", "get_org", ["org5"]) is None
    assert chain.value("_identity", "list_members", ["org5"]) == []
    assert chain.app.check_tx(chain.tx(boss, "kv", "put", ["a", 1])).code == \
        Code.UNKNOWN_SIGNER
    # the other organisations' members are untouched
    assert codes(chain, chain.tx("admin2", "kv", "put", ["a", 1])) == [0]


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


def test_governance_changes_need_enough_organisations(tmp_path: Path) -> None:
    c = start_chain(tmp_path / "two", min_organisations=2,
                    validators=[ValidatorUpdate(seeded("v0").public_key_bytes, 10)])
    node = seeded("org2-node")
    args = ["org2", "org2-validator", node.public_key_hex, 5]
    first = c.block(c.tx("admin2", "_identity", "add_node", args))
    assert first.tx_results[0].code == 0 and first.validator_updates == []
    assert json.loads(first.tx_results[0].data)["status"] == "pending"
    assert [p["approvals"] for p in c.value("_identity", "list_proposals")] == [["org2"]]
    again = c.block(c.tx("admin2", "_identity", "add_node", args))
    assert again.tx_results[0].code == Code.INVALID_ARGUMENT  # org2 already approved
    second = c.block(c.tx("admin3", "_identity", "add_node", args))
    assert second.validator_updates == [ValidatorUpdate(node.public_key_bytes, 5)]
    assert c.value("_identity", "list_proposals") == []
    # a new organisation also needs two organisations
    c.block(c.tx("admin1", "_identity", "add_org", ["org4", "Four"]))
    assert c.value("_identity", "get_org", ["org4"]) is None
    c.block(c.tx("admin3", "_identity", "add_org", ["org4", "Four"]))
    assert c.value("_identity", "get_org", ["org4"]) == {"id": "org4", "name": "Four",
                                                         "governs": False, "members": 0}
    c.app.close()


def test_an_organisation_added_later_does_not_govern_unless_told(chain: Chain) -> None:
    """A consortium member is an organisation with an admin; it manages its own members,
    but it cannot remove other organisations, change validators or install chaincode."""
    boss, helper = seeded("org5-admin"), seeded("org5-helper")
    node = seeded("org5-node").public_key_hex
    genesis_validator = seeded("genesis-validator").public_key_hex
    assert codes(chain, chain.tx("admin1", "_identity", "add_org",
                                 ["org5", "Org Five", boss.public_key_hex, False,
                                  chain.proof(boss, "org5")])) == [0]
    assert codes(chain, chain.tx(boss, "_identity", "add_member",
                                 ["org5", "helper", helper.public_key_hex, ["admin"],
                                  chain.proof(helper, "org5")])) == [0]
    # a governing organisation adds the member's validator for it
    added = chain.block(chain.tx("admin1", "_identity", "add_node", ["org5", "mine", node, 5]))
    assert added.tx_results[0].code == 0 and added.validator_updates
    refused = chain.block(
        chain.tx(boss, "_identity", "remove_org", ["org2"]),
        chain.tx(boss, "_identity", "add_org", ["org6", "Six"]),
        chain.tx(boss, "_identity", "add_node", ["org5", "more", seeded("x").public_key_hex]),
        chain.tx(boss, "_identity", "remove_node", [genesis_validator]),
        chain.tx(boss, "_identity", "set_node_power", [genesis_validator, 1]),
        chain.tx(helper, "_lifecycle", "install", ["evil", "1", "def main(ctx):\n    pass\n"]),
    ).tx_results
    assert [r.code for r in refused] == [Code.UNAUTHORIZED] * 6, refused
    assert "does not take part in governance" in refused[0].log
    # an organisation added with governs=true takes part like a genesis one
    assert codes(chain, chain.tx("admin1", "_identity", "add_org",
                                 {"id": "org7", "name": "Seven", "governs": True,
                                  "admin_public_key": seeded("org7").public_key_hex,
                                  "admin_proof": chain.proof(seeded("org7"), "org7")})) == [0]
    assert codes(chain, chain.tx(seeded("org7"), "_identity", "add_org", ["org8", "8"])) == [0]


def test_approvals_of_a_removed_organisation_no_longer_count(tmp_path: Path) -> None:
    c = start_chain(tmp_path / "two", min_organisations=2,
                    validators=[ValidatorUpdate(seeded("v0").public_key_bytes, 10)])
    node = seeded("n9").public_key_hex
    # org3 approves a validator, then is removed by org1 and org2
    assert codes(c, c.tx("admin3", "_identity", "add_node", ["org1", "n9", node, 5])) == [0]
    assert codes(c, c.tx("admin1", "_identity", "remove_org", ["org3"]),
                 c.tx("admin2", "_identity", "remove_org", ["org3"])) == [0, 0]
    assert c.value("_identity", "get_org", ["org3"]) is None
    # org1's approval alone must not complete the proposal with org3's stale one
    result = c.block(c.tx("admin1", "_identity", "add_node", ["org1", "n9", node, 5]))
    assert result.tx_results[0].code == 0 and result.validator_updates == []
    assert json.loads(result.tx_results[0].data)["approvals"] == ["org1"]
    c.app.close()


def test_removing_an_organisation_removes_all_of_its_keys_in_one_tx(chain: Chain) -> None:
    """An organisation holds at most 1,000 keys, so its removal always fits in one
    transaction's budget (a member could otherwise make itself impossible to remove)."""
    boss = seeded("big-admin")
    assert codes(chain, chain.tx("admin1", "_identity", "add_org",
                                 ["big", "Big", boss.public_key_hex, False,
                                  chain.proof(boss, "big")])) == [0]
    keys = [seeded(f"big-{i}") for i in range(1000)]  # the most one organisation may have
    adds = [chain.tx(boss, "_identity", "add_member", ["big", f"m{i}", k.public_key_hex,
                                                       ["admin"], chain.proof(k, "big")])
            for i, k in enumerate(keys)]
    results = chain.block(*adds).tx_results
    assert {r.code for r in results[:999]} == {0}  # with the admin, that is 1,000 keys
    assert results[999].code == Code.RESOURCE_LIMIT and "1000 keys" in results[999].log
    assert codes(chain, chain.tx("admin1", "_identity", "remove_org", ["big"])) == [0]
    assert chain.value("_identity", "list_members", ["big"]) == []
    for signer in (boss, keys[0], keys[998]):
        assert chain.app.check_tx(chain.tx(signer, "kv", "put", ["a", 1])).code == \
            Code.UNKNOWN_SIGNER


def test_a_key_joins_only_with_its_own_proof(chain: Chain) -> None:
    """Registering a key needs the key's own signature over the chain and organisation: a
    member cannot claim a key it copied (from a pending proposal, say) into its own org."""
    victim, thief = seeded("victim-admin"), seeded("thief-admin")
    assert codes(chain, chain.tx("admin1", "_identity", "add_org",
                                 ["thief", "T", thief.public_key_hex, False,
                                  chain.proof(thief, "thief")])) == [0]
    stolen = chain.block(
        chain.tx(thief, "_identity", "add_member",  # no proof
                 ["thief", "x", victim.public_key_hex, ["admin"]]),
        chain.tx(thief, "_identity", "add_member",  # the victim's proof for another org
                 ["thief", "x", victim.public_key_hex, ["admin"],
                  chain.proof(victim, "victim")]),
        chain.tx("admin1", "_identity", "add_org",  # an org id that would nest index keys
                 ["a/b", "Nested", None]),
    ).tx_results
    assert [r.code for r in stolen] == [Code.INVALID_ARGUMENT] * 3, stolen
    assert "proof of possession" in stolen[0].log and "proof of possession" in stolen[1].log
    assert "organisation id must match" in stolen[2].log
    # the victim's organisation can still be added with its key
    assert codes(chain, chain.tx("admin1", "_identity", "add_org",
                                 ["victim", "V", victim.public_key_hex, False,
                                  chain.proof(victim, "victim")])) == [0]
