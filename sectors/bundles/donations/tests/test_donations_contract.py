"""Unit tests of the donations bundle on an in-process chain (sectors.harness)."""

from __future__ import annotations

import hashlib

import pytest

from ledger.errors import Code
from sectors.harness import BundleChain, CallFailed, key_for

from .helpers import BUNDLE, MANIFEST, SAMPLES, events

ROLES = {"charity": ["org1"], "deliverer": ["org2", "org3"]}
DOC = hashlib.sha256(b"delivery note").hexdigest()
OTHER_DOC = hashlib.sha256(b"another note").hexdigest()


def pk(name: str) -> str:
    return key_for(name).public_key_hex


@pytest.fixture
def chain(tmp_path):
    c = BundleChain.start(tmp_path, BUNDLE, roles=ROLES)
    yield c
    c.close()


def refused(chain, who, fn, code=Code.CHAINCODE_ERROR, match="", **args):
    with pytest.raises(CallFailed) as info:
        chain.call(who, fn, **args)
    assert info.value.code == code, info.value.log
    assert match in info.value.log
    return info.value


def query_refused(chain, fn, match="", **args):
    with pytest.raises(CallFailed) as info:
        chain.query(fn, **args)
    assert match in info.value.log
    return info.value


def funded(chain, raised=(50_000, 120_000)):
    """Campaign c1 with donations from alice, bob, ...; project p1 for key:shelter."""
    chain.call("charity", "create_campaign", id="c1", title="Winter coats", goal=1_000_000)
    for name, amount in zip(("alice", "bob", "carol"), raised, strict=False):
        chain.call(f"key:{name}", "donate", campaign="c1", amount=amount)
    chain.call("charity", "create_project", id="p1", title="Coats", receiver=pk("shelter"))


# -- samples and setup ------------------------------------------------------------------------
def test_every_sample_does_what_it_expects(tmp_path):
    chain = BundleChain.start(tmp_path, BUNDLE)
    assert SAMPLES.sample_problems(chain) == []


def test_manifest_declares_every_export_with_its_kind():
    assert SAMPLES.export_problems() == []


def test_init_stores_roles_and_roles_of_reports_them(chain):
    assert chain.query("roles_of", org="org1") == ["charity"]
    assert chain.query("roles_of", org="org2") == ["deliverer"]
    assert chain.query("roles_of", org="org9") == []
    assert chain.query("roles_of", public_key=pk("alice")) == ["donor"]
    assert chain.query("roles_of") == []
    funded(chain)
    assert chain.query("roles_of", org="org3", public_key=pk("shelter")) == [
        "deliverer", "donor", "receiver"]
    query_refused(chain, "roles_of", public_key="nothex", match="public_key")


def test_init_runs_once_and_only_for_a_network_admin(tmp_path):
    manifest = dict(MANIFEST, init={})
    chain = BundleChain.start(tmp_path, BUNDLE, roles=ROLES, manifest=manifest)
    refused(chain, "charity", "create_campaign", match="not initialised", id="c", title="t",
            goal=1)
    refused(chain, "key:mallory", "init", Code.UNAUTHORIZED, roles=ROLES)
    refused(chain, "org:org1", "init", match="charity role", roles={"deliverer": ["org2"]})
    refused(chain, "org:org1", "init", match="unknown organisation role",
            roles={"charity": ["org1"], "owner": ["org1"]})
    refused(chain, "org:org1", "init", match="list of organisation ids",
            roles={"charity": "org1"})
    refused(chain, "org:org1", "init", match="currency", roles=ROLES, currency="")
    assert chain.call("org:org2", "init", roles=ROLES)["currency"] == "KRW"
    refused(chain, "org:org1", "init", match="already initialised", roles=ROLES)


# -- campaigns ----------------------------------------------------------------------------------
def test_create_and_close_a_campaign(chain):
    out = chain.send("charity", "create_campaign", id="c1", title="Coats", goal=1000)
    assert out.result["state"] == "open" and out.result["raised"] == 0
    assert events(out) == [("campaign_created", {"id": "c1", "by": "org1", "goal": "1000"})]
    assert chain.query("get_campaign", id="c1")["title"] == "Coats"
    assert [c["id"] for c in chain.query("list_campaigns")] == ["c1"]
    closed = chain.call("charity", "close_campaign", id="c1")
    assert closed["state"] == "closed"
    refused(chain, "charity", "close_campaign", match="already closed", id="c1")
    refused(chain, "charity", "close_campaign", match="no such campaign", id="c9")


@pytest.mark.parametrize("who", ["deliverer", "org:org3", "key:mallory", "org:org2"])
def test_only_a_charity_creates_closes_projects_allocates_and_disburses(chain, who):
    funded(chain)
    chain.call("charity", "allocate", campaign="c1", project="p1", amount=10)
    refused(chain, who, "create_campaign", Code.UNAUTHORIZED, id="c2", title="t", goal=5)
    refused(chain, who, "close_campaign", Code.UNAUTHORIZED, id="c1")
    refused(chain, who, "create_project", Code.UNAUTHORIZED, id="p2", title="t",
            receiver=pk("x"))
    refused(chain, who, "allocate", Code.UNAUTHORIZED, campaign="c1", project="p1", amount=1)
    refused(chain, who, "disburse", Code.UNAUTHORIZED, id="d1", project="p1", amount=1,
            deliverer="org2")


@pytest.mark.parametrize("args, match", [
    ({"id": "", "title": "t", "goal": 1}, "campaign id"),
    ({"id": "a/b", "title": "t", "goal": 1}, "campaign id"),
    ({"id": "-a", "title": "t", "goal": 1}, "start with"),
    ({"id": "x" * 41, "title": "t", "goal": 1}, "campaign id"),
    ({"id": 7, "title": "t", "goal": 1}, "campaign id"),
    ({"id": "c", "title": "", "goal": 1}, "title"),
    ({"id": "c", "title": "t" * 121, "goal": 1}, "title"),
    ({"id": "c", "title": "t", "goal": 0}, "goal"),
    ({"id": "c", "title": "t", "goal": -5}, "goal"),
    ({"id": "c", "title": "t", "goal": "100"}, "goal must be an integer"),
    ({"id": "c", "title": "t", "goal": True}, "goal must be an integer"),
    ({"id": "c", "title": "t", "goal": 10**15 + 1}, "goal"),
])
def test_create_campaign_refuses_bad_arguments(chain, args, match):
    refused(chain, "charity", "create_campaign", match=match, **args)


def test_create_campaign_refuses_a_duplicate_and_unknown_arguments(chain):
    chain.call("charity", "create_campaign", id="c1", title="t", goal=1)
    refused(chain, "charity", "create_campaign", match="already exists", id="c1", title="u",
            goal=2)
    with pytest.raises(CallFailed):
        chain.call("charity", "create_campaign", id="c2", title="t", goal=1, extra=1)


# -- donations ----------------------------------------------------------------------------------
def test_anyone_with_a_key_donates(chain):
    chain.call("charity", "create_campaign", id="c1", title="t", goal=100)
    d1 = chain.send("key:alice", "donate", campaign="c1", amount=60)
    assert d1.result == {"id": "c1-1", "campaign": "c1", "donor": pk("alice"), "amount": 60,
                         "offset": 0, "time": d1.result["time"]}
    assert {a["id"] for _, a in events(d1)} == {"c1-1", "c1"}
    d2 = chain.call("org:org2", "donate", campaign="c1", amount=70)  # goals may be exceeded
    assert d2["id"] == "c1-2" and d2["offset"] == 60
    assert chain.query("get_campaign", id="c1")["raised"] == 130
    assert chain.query("donations_of", public_key=pk("alice")) == [{"id": "c1-1", "amount": 60}]
    assert chain.query("donations_of", public_key=pk("nobody")) == []


@pytest.mark.parametrize("amount, match", [
    (0, "between"), (-1, "between"), ("10", "integer"), (None, "integer"), (False, "integer"),
    (10**15 + 1, "between"),
])
def test_donate_refuses_bad_amounts(chain, amount, match):
    chain.call("charity", "create_campaign", id="c1", title="t", goal=100)
    refused(chain, "key:alice", "donate", match=match, campaign="c1", amount=amount)


def test_donate_refuses_unknown_and_closed_campaigns(chain):
    refused(chain, "key:alice", "donate", match="no such campaign", campaign="c1", amount=5)
    chain.call("charity", "create_campaign", id="c1", title="t", goal=100)
    chain.call("charity", "close_campaign", id="c1")
    refused(chain, "key:alice", "donate", match="closed", campaign="c1", amount=5)


# -- projects and allocations -------------------------------------------------------------------
def test_create_project_checks_its_arguments(chain):
    p = chain.call("charity", "create_project", id="p1", title="t", receiver=pk("shelter"))
    assert p["allocated"] == 0 and p["receiver"] == pk("shelter")
    refused(chain, "charity", "create_project", match="already exists", id="p1", title="t",
            receiver=pk("shelter"))
    refused(chain, "charity", "create_project", match="receiver", id="p2", title="t",
            receiver="ABC")
    refused(chain, "charity", "create_project", match="receiver", id="p2", title="t",
            receiver=pk("x").upper())
    assert [p["id"] for p in chain.query("list_projects")] == ["p1"]


def test_allocate_never_beyond_what_was_raised(chain):
    funded(chain)  # raised 170,000
    a = chain.call("charity", "allocate", campaign="c1", project="p1", amount=100_000)
    assert a["offset"] == 0 and a["poffset"] == 0
    chain.call("charity", "allocate", campaign="c1", project="p1", amount=70_000)
    refused(chain, "charity", "allocate", match="has 0 raised and not yet allocated",
            campaign="c1", project="p1", amount=1)
    camp = chain.query("get_campaign", id="c1")
    assert camp["allocated"] == camp["raised"] == 170_000
    project = chain.query("get_project", id="p1")
    assert project["allocated"] == 170_000
    assert [a["amount"] for a in project["allocation_list"]] == [100_000, 70_000]


def test_allocate_refuses_unknown_ids_and_bad_amounts(chain):
    funded(chain)
    refused(chain, "charity", "allocate", match="no such campaign", campaign="c9",
            project="p1", amount=1)
    refused(chain, "charity", "allocate", match="no such project", campaign="c1",
            project="p9", amount=1)
    for amount in (0, -3, "5", [5]):
        with pytest.raises(CallFailed):
            chain.call("charity", "allocate", campaign="c1", project="p1", amount=amount)
    assert chain.query("get_campaign", id="c1")["allocated"] == 0


def test_a_closed_campaign_still_allocates_what_it_raised(chain):
    funded(chain)
    chain.call("charity", "close_campaign", id="c1")
    chain.call("charity", "allocate", campaign="c1", project="p1", amount=170_000)


# -- disbursements, deliveries, acknowledgements ------------------------------------------------
def test_disburse_never_twice_and_never_beyond_the_allocation(chain):
    funded(chain)
    chain.call("charity", "allocate", campaign="c1", project="p1", amount=100_000)
    d = chain.send("charity", "disburse", id="d1", project="p1", amount=60_000,
                   deliverer="org2")
    assert d.result["state"] == "disbursed" and d.result["deliverer"] == "org2"
    assert [a["id"] for _, a in events(d)] == ["d1"]
    refused(chain, "charity", "disburse", match="nothing is disbursed twice", id="d1",
            project="p1", amount=1, deliverer="org2")
    refused(chain, "charity", "disburse", match="has 40000 allocated and not yet disbursed",
            id="d2", project="p1", amount=40_001, deliverer="org2")
    chain.call("charity", "disburse", id="d2", project="p1", amount=40_000, deliverer="org3")
    refused(chain, "charity", "disburse", match="has 0 allocated", id="d3", project="p1",
            amount=1, deliverer="org2")
    project = chain.query("get_project", id="p1")
    assert project["disbursed"] == project["allocated"] == 100_000
    assert [d["id"] for d in chain.query("list_disbursements")] == ["d1", "d2"]


def test_disburse_refuses_bad_deliverers_unknown_projects_and_amounts(chain):
    funded(chain)
    chain.call("charity", "allocate", campaign="c1", project="p1", amount=100)
    refused(chain, "charity", "disburse", match="deliverer role", id="d1", project="p1",
            amount=1, deliverer="org1")
    refused(chain, "charity", "disburse", match="deliverer role", id="d1", project="p1",
            amount=1, deliverer=["org2"])
    refused(chain, "charity", "disburse", match="no such project", id="d1", project="p9",
            amount=1, deliverer="org2")
    refused(chain, "charity", "disburse", match="between", id="d1", project="p1", amount=0,
            deliverer="org2")
    refused(chain, "charity", "disburse", match="disbursement id", id="d/1", project="p1",
            amount=1, deliverer="org2")


def test_delivery_and_acknowledgement(chain):
    funded(chain)
    chain.call("charity", "allocate", campaign="c1", project="p1", amount=100)
    chain.call("charity", "disburse", id="d1", project="p1", amount=100, deliverer="org2")
    refused(chain, "key:shelter", "acknowledge", match="only a delivered", id="d1",
            document_hash=DOC)
    # org1 is not a deliverer; org3 is one but not the one this disbursement went to
    refused(chain, "charity", "record_delivery", Code.UNAUTHORIZED, id="d1", document_hash=DOC)
    refused(chain, "org:org3", "record_delivery", Code.UNAUTHORIZED, id="d1", document_hash=DOC)
    refused(chain, "key:shelter", "record_delivery", Code.UNAUTHORIZED, id="d1",
            document_hash=DOC)
    refused(chain, "org:org2", "record_delivery", match="document_hash", id="d1",
            document_hash="abc")
    refused(chain, "org:org2", "record_delivery", match="no such disbursement", id="d9",
            document_hash=DOC)
    out = chain.send("org:org2", "record_delivery", id="d1", document_hash=DOC)
    assert out.result["state"] == "delivered" and out.result["document_hash"] == DOC
    assert events(out)[0][1]["id"] == "d1"
    refused(chain, "org:org2", "record_delivery", match="already delivered", id="d1",
            document_hash=OTHER_DOC)
    # only the project's receiver key acknowledges, and only the recorded document
    for who in ("key:alice", "charity", "org:org2"):
        refused(chain, who, "acknowledge", Code.UNAUTHORIZED, id="d1", document_hash=DOC)
    refused(chain, "key:shelter", "acknowledge", match="does not match", id="d1",
            document_hash=OTHER_DOC)
    refused(chain, "key:shelter", "acknowledge", match="no such disbursement", id="d9",
            document_hash=DOC)
    ack = chain.send("key:shelter", "acknowledge", id="d1", document_hash=DOC)
    assert ack.result["state"] == "acknowledged"
    assert events(ack)[0][1]["id"] == "d1" and events(ack)[0][1]["by"] == pk("shelter")
    refused(chain, "key:shelter", "acknowledge", match="is acknowledged", id="d1",
            document_hash=DOC)
    assert chain.query("get_disbursement", id="d1")["state"] == "acknowledged"


def test_reads_refuse_unknown_ids(chain):
    for fn in ("get_campaign", "get_project", "get_disbursement", "donation_report"):
        query_refused(chain, fn, match="no such", id="x1")
    query_refused(chain, "donation_report", match="donation id", id="")
    query_refused(chain, "donations_of", match="public_key", public_key="x")


# -- the donation report --------------------------------------------------------------------
def test_donation_report_follows_a_donation_fifo_to_delivery(chain):
    funded(chain)  # alice 50,000 = raised [0, 50k); bob 120,000 = [50k, 170k)
    chain.call("charity", "create_project", id="p2", title="Blankets", receiver=pk("home"))
    # another campaign's money reaches p2 first, so c1's allocation starts at 5,000 in p2
    chain.call("charity", "create_campaign", id="c2", title="Other", goal=10)
    chain.call("key:dave", "donate", campaign="c2", amount=5_000)
    chain.call("charity", "allocate", campaign="c2", project="p2", amount=5_000)
    chain.call("charity", "allocate", campaign="c1", project="p1", amount=30_000)   # [0, 30k)
    chain.call("charity", "allocate", campaign="c1", project="p2", amount=100_000)  # [30k,130k)
    # p2's stream: [0, 5k) from c2, [5k, 105k) from c1; alice's part of it is [5k, 25k)
    chain.call("charity", "disburse", id="d1", project="p2", amount=15_000, deliverer="org2")
    chain.call("charity", "disburse", id="d2", project="p2", amount=50_000, deliverer="org3")
    chain.call("org:org2", "record_delivery", id="d1", document_hash=DOC)
    chain.call("key:home", "acknowledge", id="d1", document_hash=DOC)
    chain.call("org:org3", "record_delivery", id="d2", document_hash=OTHER_DOC)

    report = chain.query("donation_report", id="c1-1")
    assert report["donation"]["donor"] == pk("alice")
    assert report["campaign"]["id"] == "c1" and report["attribution"] == "fifo"
    assert [(a["project"], a["amount"]) for a in report["allocations"]] == [
        ("p1", 30_000), ("p2", 20_000)]
    assert [(d["id"], d["amount"], d["state"]) for d in report["disbursements"]] == [
        ("d1", 10_000, "acknowledged"), ("d2", 10_000, "delivered")]
    assert report["disbursements"][1]["document_hash"] == OTHER_DOC
    assert report["totals"] == {"amount": 50_000, "allocated": 50_000, "disbursed": 20_000,
                                "delivered": 20_000, "acknowledged": 10_000}
    assert report["currency"] == "KRW"

    bob = chain.query("donation_report", id="c1-2")  # [50k, 170k): 80k allocated, in p2
    assert [(a["project"], a["amount"]) for a in bob["allocations"]] == [("p2", 80_000)]
    # bob's part of p2 is [25k, 105k): 40k of d2 ([15k, 65k)), none of d1
    assert [(d["id"], d["amount"]) for d in bob["disbursements"]] == [("d2", 40_000)]
    assert bob["totals"]["allocated"] == 80_000 and bob["totals"]["acknowledged"] == 0
    dave = chain.query("donation_report", id="c2-1")
    assert [(d["id"], d["amount"]) for d in dave["disbursements"]] == [("d1", 5_000)]


def test_donation_report_of_an_unallocated_donation(chain):
    funded(chain)
    report = chain.query("donation_report", id="c1-2")
    assert report["allocations"] == [] and report["disbursements"] == []
    assert report["totals"]["allocated"] == 0
    assert not report["truncated"] and not report["partial"]


def test_every_write_emits_events_naming_the_instance(chain):
    def ids(out):
        assert events(out) and all("id" in a for _, a in events(out))
        return {a["id"] for _, a in events(out)}

    assert ids(chain.send("charity", "create_campaign", id="c1", title="t", goal=9)) == {"c1"}
    assert ids(chain.send("key:a", "donate", campaign="c1", amount=9)) == {"c1", "c1-1"}
    assert ids(chain.send("charity", "create_project", id="p1", title="t",
                          receiver=pk("r"))) == {"p1"}
    assert ids(chain.send("charity", "allocate", campaign="c1", project="p1",
                          amount=9)) == {"c1", "p1"}
    assert ids(chain.send("charity", "disburse", id="d1", project="p1", amount=9,
                          deliverer="org2")) == {"d1"}
    assert ids(chain.send("org:org2", "record_delivery", id="d1", document_hash=DOC)) == {"d1"}
    assert ids(chain.send("key:r", "acknowledge", id="d1", document_hash=DOC)) == {"d1"}
    assert ids(chain.send("charity", "close_campaign", id="c1")) == {"c1"}


# -- upgrade ----------------------------------------------------------------------------------
def test_upgrade_to_1_1_0_keeps_the_state(chain):
    funded(chain)
    chain.call("charity", "allocate", campaign="c1", project="p1", amount=70_000)
    chain.call("charity", "disburse", id="d1", project="p1", amount=70_000, deliverer="org2")
    before = chain.query("donation_report", id="c1-1")
    source = (BUNDLE / "contract.py").read_text() + (
        "\n\n@read\ndef version(ctx):\n    return \"1.1.0\"\n")
    chain.install("1.1.0", source)
    assert chain.query("version") == "1.1.0"
    assert chain.query("donation_report", id="c1-1") == before
    assert chain.query("roles_of", org="org2") == ["deliverer"]
    refused(chain, "charity", "disburse", match="nothing is disbursed twice", id="d1",
            project="p1", amount=1, deliverer="org2")
    chain.call("key:carol", "donate", campaign="c1", amount=1)
    assert chain.query("get_campaign", id="c1")["raised"] == 170_001


def test_donation_report_lists_at_most_50_rows_but_totals_everything(chain):
    funded(chain, raised=(1_000,))
    chain.call("charity", "allocate", campaign="c1", project="p1", amount=1_000)
    for i in range(55):
        chain.call("charity", "disburse", id=f"d{i}", project="p1", amount=10,
                   deliverer="org2")
    report = chain.query("donation_report", id="c1-1")
    assert len(report["disbursements"]) == 50 and report["truncated"]
    assert not report["partial"]
    assert report["totals"]["disbursed"] == 550
