"""Property-based tests of the donations bundle: random sequences of calls on one chain.

After every call: allocated <= raised per campaign, disbursed <= allocated per project,
every disbursement exists once with the amount and state a plain model predicts, and the
chain accepted exactly the calls the model accepts. At the end, the FIFO donation reports
add up: every allocated and every disbursed won is attributed to exactly one donation.
"""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from sectors.harness import BundleChain, CallFailed, key_for

from .helpers import BUNDLE

ROLES = {"charity": ["org1"], "deliverer": ["org2", "org3"]}
CAMPAIGNS = ["c0", "c1"]
PROJECTS = ["p0", "p1", "p2"]
DISBURSEMENTS = ["d0", "d1", "d2", "d3", "d4"]
DELIVERERS = ["org2", "org3", "org1"]  # org1 is not a deliverer
DONORS = ["alice", "bob", "carol"]
DOC = hashlib.sha256(b"proof").hexdigest()

# one amount in ten is invalid (zero, negative, too large)
amounts = st.integers(0, 9).flatmap(
    lambda i: st.sampled_from([0, -1, 10**15 + 1]) if i == 0 else st.integers(1, 400))
# allocate/disburse amounts: often relative to what is free, so that many calls succeed,
# and "over" (free + 1) to try overspending
relative = st.integers(0, 9).flatmap(
    lambda i: amounts if i < 4 else st.sampled_from(["free", "free", "half", "over"]))
donate = st.tuples(st.just("donate"), st.sampled_from(CAMPAIGNS), st.sampled_from(DONORS),
                   amounts)
allocate = st.tuples(st.just("allocate"), st.sampled_from(CAMPAIGNS),
                     st.sampled_from(PROJECTS), relative)
disburse = st.tuples(st.just("disburse"), st.sampled_from(DISBURSEMENTS),
                     st.sampled_from(PROJECTS), relative, st.sampled_from(DELIVERERS))
deliver = st.tuples(st.just("deliver"), st.sampled_from(DISBURSEMENTS),
                    st.sampled_from(["right", "right", *DELIVERERS]))
ack = st.tuples(st.just("ack"), st.sampled_from(DISBURSEMENTS),
                st.sampled_from(["right", "right", *PROJECTS]))
close = st.tuples(st.just("close"), st.sampled_from(CAMPAIGNS))
# A round moves money one step further along every stage (each with random arguments, so
# many calls are still refused); a campaign closes in one round of eight.
rounds = st.tuples(donate, donate, allocate, disburse, deliver, ack,
                   st.integers(0, 7).flatmap(lambda i: close if i == 0 else st.none()))


def flatten(plan: list[tuple]) -> list[tuple]:
    return [op for r in plan for op in r if op is not None]


def resolve(amount: int | str, free: int) -> int:
    if amount == "free":
        return max(free, 1)
    if amount == "half":
        return max(free // 2, 1)
    if amount == "over":
        return free + 1
    return amount


class Model:
    def __init__(self) -> None:
        self.raised = dict.fromkeys(CAMPAIGNS, 0)
        self.c_alloc = dict.fromkeys(CAMPAIGNS, 0)
        self.open = dict.fromkeys(CAMPAIGNS, True)
        self.p_alloc = dict.fromkeys(PROJECTS, 0)
        self.disbursed = dict.fromkeys(PROJECTS, 0)
        self.disb: dict[str, dict] = {}
        self.donations: list[str] = []


def valid(amount: int) -> bool:
    return 1 <= amount <= 10**15


def apply(chain: BundleChain, model: Model, op: tuple) -> None:
    kind = op[0]
    if kind == "donate":
        _, c, donor, amount = op
        ok = model.open[c] and valid(amount)
        call = ("key:" + donor, "donate", {"campaign": c, "amount": amount})
    elif kind == "close":
        c = op[1]
        ok = model.open[c]
        call = ("charity", "close_campaign", {"id": c})
    elif kind == "allocate":
        _, c, p, amount = op
        amount = resolve(amount, model.raised[c] - model.c_alloc[c])
        ok = valid(amount) and amount <= model.raised[c] - model.c_alloc[c]
        call = ("charity", "allocate", {"campaign": c, "project": p, "amount": amount})
    elif kind == "disburse":
        _, d, p, amount, org = op
        amount = resolve(amount, model.p_alloc[p] - model.disbursed[p])
        ok = (valid(amount) and d not in model.disb and org != "org1"
              and amount <= model.p_alloc[p] - model.disbursed[p])
        call = ("charity", "disburse",
                {"id": d, "project": p, "amount": amount, "deliverer": org})
    elif kind == "deliver":
        _, d, org = op
        rec = model.disb.get(d)
        if org == "right":
            org = rec["deliverer"] if rec else "org2"
        ok = rec is not None and rec["state"] == "disbursed" and rec["deliverer"] == org
        call = ("org:" + org, "record_delivery", {"id": d, "document_hash": DOC})
    else:
        _, d, p = op
        rec = model.disb.get(d)
        if p == "right":
            p = rec["project"] if rec else "p0"
        ok = rec is not None and rec["state"] == "delivered" and rec["project"] == p
        call = ("key:r-" + p, "acknowledge", {"id": d, "document_hash": DOC})
    who, fn, args = call
    try:
        result = chain.call(who, fn, **args)
        accepted = True
    except CallFailed:
        accepted = False
    assert accepted == ok, (op, accepted)
    event(f"{kind} {'ok' if ok else 'refused'}")
    if not ok:
        return
    if kind == "donate":
        model.raised[c] += amount
        model.donations.append(result["id"])
    elif kind == "close":
        model.open[c] = False
    elif kind == "allocate":
        model.c_alloc[c] += amount
        model.p_alloc[p] += amount
    elif kind == "disburse":
        model.disbursed[p] += amount
        model.disb[d] = {"project": p, "amount": amount, "deliverer": org,
                         "state": "disbursed"}
    elif kind == "deliver":
        model.disb[d]["state"] = "delivered"
    else:
        model.disb[d]["state"] = "acknowledged"


def check(chain: BundleChain, model: Model) -> None:
    campaigns = {c["id"]: c for c in chain.query("list_campaigns")}
    projects = {p["id"]: p for p in chain.query("list_projects")}
    disbursements = chain.query("list_disbursements")
    for c in CAMPAIGNS:
        got = campaigns[c]
        assert 0 <= got["allocated"] <= got["raised"]
        assert (got["raised"], got["allocated"]) == (model.raised[c], model.c_alloc[c])
        assert got["state"] == ("open" if model.open[c] else "closed")
    for p in PROJECTS:
        got = projects[p]
        assert 0 <= got["disbursed"] <= got["allocated"]
        assert (got["allocated"], got["disbursed"]) == (model.p_alloc[p], model.disbursed[p])
        assert got["disbursed"] == sum(d["amount"] for d in disbursements
                                       if d["project"] == p)
    assert sum(c["allocated"] for c in campaigns.values()) == sum(
        p["allocated"] for p in projects.values())
    ids = [d["id"] for d in disbursements]
    assert len(ids) == len(set(ids)) == len(model.disb)
    for d in disbursements:
        want = model.disb[d["id"]]
        assert (d["project"], d["amount"], d["deliverer"], d["state"]) == (
            want["project"], want["amount"], want["deliverer"], want["state"])


def check_reports(chain: BundleChain, model: Model) -> None:
    allocated = dict.fromkeys(CAMPAIGNS, 0)
    per_disbursement = dict.fromkeys(model.disb, 0)
    for donation in model.donations:
        report = chain.query("donation_report", id=donation)
        totals = report["totals"]
        assert (0 <= totals["acknowledged"] <= totals["delivered"] <= totals["disbursed"]
                <= totals["allocated"] <= totals["amount"])
        assert totals["allocated"] == sum(a["amount"] for a in report["allocations"])
        allocated[report["campaign"]["id"]] += totals["allocated"]
        for d in report["disbursements"]:
            assert d["amount"] > 0
            per_disbursement[d["id"]] += d["amount"]
    assert allocated == model.c_alloc
    assert per_disbursement == {d: rec["amount"] for d, rec in model.disb.items()}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(rounds, min_size=1, max_size=8).map(flatten))
def test_random_operations_keep_the_invariants(steps):
    with tempfile.TemporaryDirectory(prefix="donations-prop-") as tmp:
        chain = BundleChain.start(Path(tmp), BUNDLE, roles=ROLES)
        try:
            for c in CAMPAIGNS:
                chain.call("charity", "create_campaign", id=c, title=c, goal=1000)
            for p in PROJECTS:
                chain.call("charity", "create_project", id=p, title=p,
                           receiver=key_for("r-" + p).public_key_hex)
            model = Model()
            for op in steps:
                apply(chain, model, op)
                check(chain, model)
            check_reports(chain, model)
        finally:
            chain.close()
