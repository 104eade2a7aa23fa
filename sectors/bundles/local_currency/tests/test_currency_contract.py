"""Unit tests of the local currency bundle on an in-process chain (sectors.harness)."""

from __future__ import annotations

import pytest

from ledger.errors import Code
from sectors.harness import BundleChain, CallFailed, key_for

from .helpers import BUNDLE, MANIFEST, SAMPLES, events

ROLES = {"city": ["org1"]}
SECOND = 10**9
YEAR = 365 * 86400
RULES = {"mint_limit": 100_000, "period_seconds": 30 * 86400, "cashback_bps": 0,
         "expiry_seconds": YEAR, "categories": ["food", "retail"]}


def pk(name: str) -> str:
    return key_for(name).public_key_hex


@pytest.fixture
def chain(tmp_path):
    c = BundleChain.start(tmp_path, BUNDLE, roles=ROLES)
    c.call("city", "set_rules", **RULES)
    for name in ("alice", "bob"):
        c.call("city", "enroll_resident", public_key=pk(name))
    c.call("city", "enroll_merchant", public_key=pk("bakery"), name="Bakery", category="food")
    c.call("city", "enroll_merchant", public_key=pk("arcade"), name="Arcade",
           category="entertainment")
    yield c
    c.close()


def refused(chain, who, fn, code=Code.CHAINCODE_ERROR, match="", **args):
    with pytest.raises(CallFailed) as info:
        chain.call(who, fn, **args)
    assert info.value.code == code, info.value.log
    assert match in info.value.log, info.value.log
    return info.value


def rules(**changes):
    return dict(RULES, **changes)


def advance(chain, seconds):
    for _ in range(seconds):
        chain.chain.block()


def assert_supply(chain):
    s = chain.query("supply")
    assert s["complete"]
    assert s["supply"] == s["minted"] - s["burned"] == s["sum_of_balances"] >= 0
    return s


# -- samples, manifest, setup -------------------------------------------------------------------
def test_every_sample_does_what_it_expects(tmp_path):
    chain = BundleChain.start(tmp_path, BUNDLE)
    assert SAMPLES.sample_problems(chain) == []
    assert_supply(chain)


def test_manifest_declares_every_export_with_its_kind():
    assert SAMPLES.export_problems() == []


def test_init_runs_once_and_only_for_a_network_admin(tmp_path):
    chain = BundleChain.start(tmp_path, BUNDLE, roles=ROLES, manifest=dict(MANIFEST, init={}))
    refused(chain, "city", "enroll_resident", match="not initialised", public_key=pk("a"))
    refused(chain, "key:mallory", "init", Code.UNAUTHORIZED, roles=ROLES)
    refused(chain, "org:org1", "init", match="roles.city", roles={"city": []})
    refused(chain, "org:org1", "init", match="unknown organisation role",
            roles={"city": ["org1"], "bank": ["org2"]})
    refused(chain, "org:org1", "init", match="cashback_bps", roles=ROLES, cashback_bps=2_001)
    refused(chain, "org:org1", "init", match="unit", roles=ROLES, unit="")
    out = chain.call("org:org2", "init", roles=ROLES, **MANIFEST["init"]["args"])
    assert out["rules"]["categories"] == MANIFEST["init"]["args"]["categories"]
    refused(chain, "org:org1", "init", match="already initialised", roles=ROLES)
    assert chain.query("supply")["minted"] == 0


def test_roles_of(chain):
    assert chain.query("roles_of", org="org1") == ["city"]
    assert chain.query("roles_of", org="org2") == []
    assert chain.query("roles_of", public_key=pk("alice")) == ["resident"]
    assert chain.query("roles_of", org="org1", public_key=pk("bakery")) == ["city", "merchant"]
    assert chain.query("roles_of", public_key=pk("nobody")) == []
    with pytest.raises(CallFailed):
        chain.query("roles_of", public_key="zz")


# -- rules and enrolment ----------------------------------------------------------------------
def test_set_rules(chain):
    out = chain.send("city", "set_rules", **rules(cashback_bps=250, categories=["health"]))
    assert out.result["cashback_bps"] == 250
    assert events(out)[0][1]["id"] == "rules"
    got = chain.query("get_rules")
    assert got["categories"] == ["health"] and got["unit"] == "KRW"
    for who in ("org:org2", "key:alice", "key:bakery"):
        refused(chain, who, "set_rules", Code.UNAUTHORIZED, **RULES)


@pytest.mark.parametrize("change, match", [
    ({"mint_limit": 0}, "mint_limit"), ({"mint_limit": "5"}, "mint_limit"),
    ({"mint_limit": True}, "mint_limit"), ({"period_seconds": 0}, "period_seconds"),
    ({"cashback_bps": -1}, "cashback_bps"), ({"cashback_bps": 2_001}, "cashback_bps"),
    ({"expiry_seconds": 0}, "expiry_seconds"), ({"categories": "food"}, "categories"),
    ({"categories": ["Food"]}, "category"), ({"categories": ["food", "food"]}, "twice"),
    ({"categories": [f"c{i}" for i in range(33)]}, "at most"), ({"categories": [""]}, "category"),
])
def test_set_rules_refuses_bad_values(chain, change, match):
    refused(chain, "city", "set_rules", match=match, **rules(**change))


def test_enrolment(chain):
    out = chain.send("city", "enroll_resident", public_key=pk("carol"))
    assert events(out) == [("resident_enrolled", {"id": pk("carol"), "by": "org1"})]
    for key in ("carol", "bakery"):
        refused(chain, "city", "enroll_resident", match="already enrolled", public_key=pk(key))
        refused(chain, "city", "enroll_merchant", match="already enrolled", public_key=pk(key),
                name="X", category="food")
    refused(chain, "city", "enroll_resident", match="public_key", public_key="abc")
    refused(chain, "city", "enroll_merchant", match="name", public_key=pk("m"), name="",
            category="food")
    refused(chain, "city", "enroll_merchant", match="category", public_key=pk("m"), name="M",
            category="Food & drink")
    for who in ("org:org2", "key:alice", "key:bakery"):
        refused(chain, who, "enroll_resident", Code.UNAUTHORIZED, public_key=pk("z"))
        refused(chain, who, "enroll_merchant", Code.UNAUTHORIZED, public_key=pk("z"), name="Z",
                category="food")
    merchants = chain.query("list_merchants")
    assert [(m["name"], m["state"]) for m in merchants] == sorted(
        [("Bakery", "active"), ("Arcade", "active")], key=lambda m: pk(m[0].lower()))


def test_suspend_and_reinstate_a_merchant(chain):
    chain.call("city", "mint", to=pk("alice"), amount=100)
    chain.call("key:alice", "pay", merchant=pk("bakery"), amount=40)
    out = chain.send("city", "suspend_merchant", id=pk("bakery"))
    assert out.result["state"] == "suspended" and events(out)[0][1]["id"] == pk("bakery")
    assert chain.query("get_merchant", id=pk("bakery"))["state"] == "suspended"
    refused(chain, "city", "suspend_merchant", match="already suspended", id=pk("bakery"))
    refused(chain, "key:alice", "pay", match="suspended", merchant=pk("bakery"), amount=1)
    chain.call("key:bakery", "redeem", amount=10)  # takings can still be redeemed
    refused(chain, "key:alice", "reinstate_merchant", Code.UNAUTHORIZED, id=pk("bakery"))
    assert chain.call("city", "reinstate_merchant", id=pk("bakery"))["state"] == "active"
    refused(chain, "city", "reinstate_merchant", match="not suspended", id=pk("bakery"))
    chain.call("key:alice", "pay", merchant=pk("bakery"), amount=1)
    refused(chain, "city", "suspend_merchant", match="no such merchant", id=pk("alice"))
    refused(chain, "org:org3", "suspend_merchant", Code.UNAUTHORIZED, id=pk("bakery"))
    with pytest.raises(CallFailed, match="no such merchant"):
        chain.query("get_merchant", id=pk("nobody"))


# -- minting ----------------------------------------------------------------------------------
def test_mint_within_the_purchase_limit_per_period(chain):
    out = chain.send("city", "mint", to=pk("alice"), amount=60_000)
    assert out.result["mint_left"] == 40_000
    assert events(out)[0][0] == "minted" and events(out)[0][1]["id"] == pk("alice")
    assert out.result["expires"] == chain.chain.time_ns + YEAR * SECOND
    refused(chain, "city", "mint", match="over the purchase limit: 40000 left",
            to=pk("alice"), amount=40_001)
    chain.call("city", "mint", to=pk("alice"), amount=40_000)
    refused(chain, "city", "mint", match="0 left", to=pk("alice"), amount=1)
    chain.call("city", "mint", to=pk("bob"), amount=100_000)  # the limit is per person
    assert chain.query("balance", public_key=pk("alice"))["mint_left"] == 0
    assert_supply(chain)


def test_the_purchase_limit_resets_each_period(chain):
    chain.call("city", "set_rules", **rules(mint_limit=10, period_seconds=20))
    chain.call("city", "mint", to=pk("alice"), amount=10)
    refused(chain, "city", "mint", match="over the purchase limit", to=pk("alice"), amount=1)
    advance(chain, 20)
    assert chain.query("balance", public_key=pk("alice"))["mint_left"] == 10
    chain.call("city", "mint", to=pk("alice"), amount=10)
    assert chain.query("balance", public_key=pk("alice"))["spendable"] == 20


@pytest.mark.parametrize("amount, match", [
    (0, "between"), (-5, "between"), ("5", "integer"), (True, "integer"), (None, "integer"),
    (10**15 + 1, "between"),
])
def test_mint_refuses_bad_amounts(chain, amount, match):
    refused(chain, "city", "mint", match=match, to=pk("alice"), amount=amount)


def test_mint_only_by_the_city_and_only_to_residents(chain):
    for who in ("org:org2", "key:alice", "key:bakery"):
        refused(chain, who, "mint", Code.UNAUTHORIZED, to=pk("alice"), amount=1)
    refused(chain, "city", "mint", match="no such resident", to=pk("bakery"), amount=1)
    refused(chain, "city", "mint", match="no such resident", to=pk("nobody"), amount=1)
    refused(chain, "city", "mint", match="to must be", to="alice", amount=1)
    assert chain.query("supply")["minted"] == 0


# -- paying -----------------------------------------------------------------------------------
def test_pay_a_merchant_with_cashback(chain):
    chain.call("city", "set_rules", **rules(cashback_bps=150))
    chain.call("city", "mint", to=pk("alice"), amount=10_000)
    out = chain.send("key:alice", "pay", merchant=pk("bakery"), amount=3_333)
    assert out.result == {"from": pk("alice"), "to": pk("bakery"), "amount": 3_333,
                          "cashback": 49, "balance": 10_000 - 3_333 + 49}
    # attributable: the signer is the payer's key, events name from/to/amount
    assert out.events[0][0] == "tx" and out.events[0][1]["signer"] == pk("alice")
    evs = dict(events(out))
    assert evs["payment"]["id"] == pk("alice") and evs["payment"]["to"] == pk("bakery")
    assert evs["payment"]["amount"] == "3333" and evs["payment"]["category"] == "food"
    assert evs["payment_received"] == {"id": pk("bakery"), "from": pk("alice"),
                                       "to": pk("bakery"), "amount": "3333",
                                       "tx": evs["payment"]["tx"]}
    assert evs["minted"]["reason"] == "cashback" and evs["minted"]["amount"] == "49"
    assert chain.query("balance", public_key=pk("bakery"))["balance"] == 3_333
    s = assert_supply(chain)
    assert s["minted"] == 10_049 and s["burned"] == 0


def test_pay_refusals(chain):
    chain.call("city", "mint", to=pk("alice"), amount=100)
    refused(chain, "key:alice", "pay", match="insufficient balance: 100", merchant=pk("bakery"),
            amount=101)
    refused(chain, "key:alice", "pay", match="not allowed in category entertainment",
            merchant=pk("arcade"), amount=1)
    refused(chain, "key:alice", "pay", match="no such merchant", merchant=pk("bob"), amount=1)
    refused(chain, "key:alice", "pay", match="merchant must be", merchant="bakery", amount=1)
    for amount in (0, -1, "1", False):
        with pytest.raises(CallFailed):
            chain.call("key:alice", "pay", merchant=pk("bakery"), amount=amount)
    # only an enrolled resident's key pays: not a merchant, an outsider or the city
    for who in ("key:bakery", "key:mallory", "city", "org:org2"):
        refused(chain, who, "pay", Code.UNAUTHORIZED, merchant=pk("bakery"), amount=1)
    assert chain.query("balance", public_key=pk("alice"))["spendable"] == 100
    assert_supply(chain)


def test_spending_allowed_again_when_the_city_allows_the_category(chain):
    chain.call("city", "mint", to=pk("alice"), amount=100)
    refused(chain, "key:alice", "pay", match="category", merchant=pk("arcade"), amount=5)
    chain.call("city", "set_rules", **rules(categories=["food", "entertainment"]))
    chain.call("key:alice", "pay", merchant=pk("arcade"), amount=5)


# -- expiry -------------------------------------------------------------------------------------
def test_expired_units_cannot_be_spent_and_are_burned(chain):
    chain.call("city", "set_rules", **rules(expiry_seconds=5))
    chain.call("city", "mint", to=pk("alice"), amount=70)        # expires at t1 + 5 s
    t1 = chain.chain.time_ns
    chain.call("city", "set_rules", **rules(expiry_seconds=100))
    chain.call("city", "mint", to=pk("alice"), amount=30)        # expires much later
    chain.call("key:alice", "pay", merchant=pk("bakery"), amount=20)  # from the 70 lot first
    lots = chain.query("balance", public_key=pk("alice"))["lots"]
    assert [(lot["amount"], lot["expires"]) for lot in lots] == [
        (50, t1 + 5 * SECOND), (30, lots[1]["expires"])]
    while chain.chain.time_ns < t1 + 5 * SECOND:
        chain.chain.block()
    bal = chain.query("balance", public_key=pk("alice"))
    assert (bal["spendable"], bal["expired"], bal["balance"]) == (30, 50, 80)
    assert [lot["expired"] for lot in bal["lots"]] == [True, False]
    refused(chain, "key:alice", "pay", match="insufficient balance: 30 spendable",
            merchant=pk("bakery"), amount=31)
    assert_supply(chain)  # expired, not yet burned: still in the supply and the balances
    out = chain.send("key:alice", "pay", merchant=pk("bakery"), amount=30)
    assert ("expired", {"id": pk("alice"), "account": pk("alice"), "amount": "50"}) in events(
        out)
    s = assert_supply(chain)
    assert (s["minted"], s["burned"], s["supply"]) == (100, 50, 50)
    assert chain.query("balance", public_key=pk("alice"))["lots"] == []


def test_reclaim_expired(chain):
    chain.call("city", "set_rules", **rules(expiry_seconds=2))
    chain.call("city", "mint", to=pk("bob"), amount=40)
    refused(chain, "city", "reclaim_expired", match="no expired units", public_key=pk("bob"))
    advance(chain, 2)
    for who in ("key:bob", "org:org2"):
        refused(chain, who, "reclaim_expired", Code.UNAUTHORIZED, public_key=pk("bob"))
    refused(chain, "city", "reclaim_expired", match="no such resident",
            public_key=pk("bakery"))
    out = chain.send("city", "reclaim_expired", public_key=pk("bob"))
    assert out.result == {"public_key": pk("bob"), "burned": 40, "balance": 0}
    assert events(out)[0][1]["id"] == pk("bob")
    s = assert_supply(chain)
    assert (s["minted"], s["burned"]) == (40, 40)


def test_a_mint_burns_the_expired_units_first(chain):
    chain.call("city", "set_rules", **rules(expiry_seconds=1))
    chain.call("city", "mint", to=pk("alice"), amount=10)
    chain.call("city", "set_rules", **rules())
    out = chain.send("city", "mint", to=pk("alice"), amount=5)
    assert [t for t, _ in events(out)] == ["expired", "minted"]
    s = assert_supply(chain)
    assert (s["minted"], s["burned"], s["supply"]) == (15, 10, 5)


def test_lots_are_capped_and_merge_towards_the_later_expiry(chain):
    # 20 % of 5 is 1: each payment adds a cashback lot of its own
    chain.call("city", "set_rules", **rules(cashback_bps=2_000))
    chain.call("city", "mint", to=pk("alice"), amount=1_000)
    for _ in range(40):
        chain.call("key:alice", "pay", merchant=pk("bakery"), amount=5)
    bal = chain.query("balance", public_key=pk("alice"))
    assert len(bal["lots"]) == 32
    assert bal["spendable"] == 1_000 - 40 * 5 + 40
    expiries = [lot["expires"] for lot in bal["lots"]]
    assert expiries == sorted(expiries) and expiries[-1] == chain.chain.time_ns + YEAR * SECOND
    assert_supply(chain)


# -- redeeming ----------------------------------------------------------------------------------
def test_redeem_burns(chain):
    chain.call("city", "mint", to=pk("alice"), amount=100)
    chain.call("key:alice", "pay", merchant=pk("bakery"), amount=60)
    out = chain.send("key:bakery", "redeem", amount=45)
    assert out.result == {"merchant": pk("bakery"), "amount": 45, "balance": 15}
    assert events(out)[0][1] == {"id": pk("bakery"), "from": pk("bakery"), "amount": "45",
                                 "tx": events(out)[0][1]["tx"]}
    refused(chain, "key:bakery", "redeem", match="insufficient balance: 15", amount=16)
    refused(chain, "key:bakery", "redeem", match="between", amount=0)
    for who in ("key:alice", "city", "key:mallory"):
        refused(chain, who, "redeem", Code.UNAUTHORIZED, amount=1)
    s = assert_supply(chain)
    assert (s["minted"], s["burned"], s["supply"]) == (100, 45, 55)


def test_balance_of_unknown_keys(chain):
    with pytest.raises(CallFailed, match="no such resident"):
        chain.query("balance", public_key=pk("nobody"))
    merchant = chain.query("balance", public_key=pk("arcade"))
    assert merchant["kind"] == "merchant" and merchant["balance"] == 0


# -- upgrade ----------------------------------------------------------------------------------
def test_upgrade_to_1_2_0_keeps_the_state(chain):
    chain.call("city", "set_rules", **rules(cashback_bps=100))
    chain.call("city", "mint", to=pk("alice"), amount=50_000)
    chain.call("key:alice", "pay", merchant=pk("bakery"), amount=10_000)
    chain.call("key:bakery", "redeem", amount=4_000)
    before = (chain.query("supply"), chain.query("balance", public_key=pk("alice")),
              chain.query("get_rules"))
    source = (BUNDLE / "contract.py").read_text() + (
        "\n\n@read\ndef version(ctx):\n    return \"1.2.0\"\n")
    chain.install("1.2.0", source)
    assert chain.query("version") == "1.2.0"
    assert (chain.query("supply"), chain.query("balance", public_key=pk("alice")),
            chain.query("get_rules")) == before
    chain.call("key:alice", "pay", merchant=pk("bakery"), amount=100)
    refused(chain, "city", "mint", match="over the purchase limit", to=pk("alice"),
            amount=50_001)
    assert_supply(chain)
