"""Property-based tests of the local currency bundle: random sequences of calls on one chain.

After every call: supply == minted - burned == the sum of all balances (a scan of every
account), no lot or balance is negative, and a plain model (lots with expiry, the purchase
limit per period, cashback, redemption) predicts which calls the chain accepts and every
account's spendable and expired balance.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from sectors.harness import BundleChain, CallFailed, key_for

from .helpers import BUNDLE

SECOND = 10**9
MAX_LOTS = 32
RESIDENTS = ["alice", "bob", "carol"]
MERCHANTS = {"bakery": "food", "shop": "retail", "arcade": "entertainment"}
BASE = {"mint_limit": 500, "period_seconds": 15, "expiry_seconds": 8,
        "categories": ["food", "retail"]}


def pk(name: str) -> str:
    return key_for(name).public_key_hex


class Model:
    def __init__(self, cashback_bps: int) -> None:
        self.bps = cashback_bps
        self.lots: dict[str, list[list[int]]] = {r: [] for r in RESIDENTS}
        self.period: dict[str, tuple[int, int] | None] = dict.fromkeys(RESIDENTS)
        self.period_minted = dict.fromkeys(RESIDENTS, 0)
        self.merchant = dict.fromkeys(MERCHANTS, 0)
        self.minted = 0
        self.burned = 0

    def sweep(self, r: str, now: int) -> int:
        expired = sum(a for a, e in self.lots[r] if e <= now)
        self.lots[r] = [[a, e] for a, e in self.lots[r] if e > now]
        self.burned += expired
        return expired

    def add_lot(self, r: str, amount: int, now: int) -> None:
        expires = now + BASE["expiry_seconds"] * SECOND
        lots = self.lots[r]
        same = [lot for lot in lots if lot[1] == expires]
        if same:
            same[0][0] += amount
        else:
            lots.append([amount, expires])
            lots.sort(key=lambda lot: lot[1])
        if len(lots) > MAX_LOTS:
            last = lots.pop()
            lots[-1] = [lots[-1][0] + last[0], last[1]]
        self.minted += amount

    def spendable(self, r: str, now: int) -> int:
        return sum(a for a, e in self.lots[r] if e > now)

    def mint_ok(self, r: str, amount: int, now: int) -> bool:
        period = (BASE["period_seconds"], now // (BASE["period_seconds"] * SECOND))
        used = self.period_minted[r] if self.period[r] == period else 0
        return 1 <= amount <= BASE["mint_limit"] - used

    def mint(self, r: str, amount: int, now: int) -> None:
        period = (BASE["period_seconds"], now // (BASE["period_seconds"] * SECOND))
        if self.period[r] != period:
            self.period[r] = period
            self.period_minted[r] = 0
        self.period_minted[r] += amount
        self.sweep(r, now)
        self.add_lot(r, amount, now)

    def pay(self, r: str, m: str, amount: int, now: int) -> None:
        self.sweep(r, now)
        left = amount
        lots = []
        for a, e in self.lots[r]:
            take = min(left, a)
            left -= take
            if a > take:
                lots.append([a - take, e])
        self.lots[r] = lots
        self.merchant[m] += amount
        cashback = amount * self.bps // 10_000
        if cashback:
            self.add_lot(r, cashback, now)


amount_or = st.integers(0, 9).flatmap(
    lambda i: st.sampled_from([0, -3]) if i == 0
    else st.integers(1, 300) if i < 5 else st.sampled_from(["all", "all", "over"]))
mint = st.tuples(st.just("mint"), st.sampled_from(RESIDENTS),
                 st.one_of(st.integers(1, 400), st.sampled_from([0, 501])))
pay = st.tuples(st.just("pay"), st.sampled_from(RESIDENTS + ["bakery"]),
                st.sampled_from(list(MERCHANTS)), amount_or)
redeem = st.tuples(st.just("redeem"), st.sampled_from(list(MERCHANTS) + ["alice"]), amount_or)
wait = st.tuples(st.just("wait"), st.integers(0, 6))
reclaim = st.tuples(st.just("reclaim"), st.sampled_from(RESIDENTS))
rounds = st.tuples(mint, pay, pay, wait, redeem,
                   st.integers(0, 3).flatmap(lambda i: reclaim if i == 0 else st.none()))


def flatten(plan: list[tuple]) -> list[tuple]:
    return [op for r in plan for op in r if op is not None]


def apply(chain: BundleChain, model: Model, op: tuple) -> None:
    kind = op[0]
    if kind == "wait":
        for _ in range(op[1]):
            chain.chain.block()
        return
    now = chain.chain.time_ns + SECOND  # the time of the block the call goes into
    if kind == "mint":
        _, r, amount = op
        ok = model.mint_ok(r, amount, now)
        who, fn, args = "city", "mint", {"to": pk(r), "amount": amount}
    elif kind == "pay":
        _, r, m, amount = op
        free = model.spendable(r, now) if r in RESIDENTS else 0
        amount = {"all": max(free, 1), "over": free + 1}.get(amount, amount)
        ok = (r in RESIDENTS and MERCHANTS[m] in BASE["categories"]
              and 1 <= amount <= free)
        who, fn, args = "key:" + r, "pay", {"merchant": pk(m), "amount": amount}
    elif kind == "redeem":
        _, m, amount = op
        free = model.merchant.get(m, 0)
        amount = {"all": max(free, 1), "over": free + 1}.get(amount, amount)
        ok = m in MERCHANTS and 1 <= amount <= free
        who, fn, args = "key:" + m, "redeem", {"amount": amount}
    else:
        _, r = op
        ok = any(e <= now for _, e in model.lots[r])
        who, fn, args = "city", "reclaim_expired", {"public_key": pk(r)}
    try:
        chain.call(who, fn, **args)
        accepted = True
    except CallFailed:
        accepted = False
    assert accepted == ok, (op, args, accepted)
    event(f"{kind} {'ok' if ok else 'refused'}")
    if not ok:
        return
    assert chain.chain.time_ns == now
    if kind == "mint":
        model.mint(r, amount, now)
    elif kind == "pay":
        model.pay(r, m, amount, now)
    elif kind == "redeem":
        model.merchant[m] -= amount
        model.burned += amount
    else:
        model.sweep(r, now)


def check(chain: BundleChain, model: Model) -> None:
    s = chain.query("supply")
    assert s["complete"] and s["accounts"] == len(RESIDENTS) + len(MERCHANTS)
    assert s["supply"] == s["minted"] - s["burned"] == s["sum_of_balances"]
    assert (s["minted"], s["burned"]) == (model.minted, model.burned)
    now = chain.chain.time_ns  # queries see the last block's time
    total = 0
    for r in RESIDENTS:
        bal = chain.query("balance", public_key=pk(r))
        assert all(lot["amount"] > 0 for lot in bal["lots"]) and len(bal["lots"]) <= MAX_LOTS
        assert bal["spendable"] == model.spendable(r, now)
        assert bal["balance"] == bal["spendable"] + bal["expired"] == sum(
            a for a, _ in model.lots[r])
        total += bal["balance"]
    for m in MERCHANTS:
        bal = chain.query("balance", public_key=pk(m))["balance"]
        assert bal == model.merchant[m] >= 0
        total += bal
    assert total == s["sum_of_balances"]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2_000), st.lists(rounds, min_size=1, max_size=8).map(flatten))
def test_random_operations_keep_supply_equal_to_minted_minus_burned(cashback_bps, steps):
    with tempfile.TemporaryDirectory(prefix="currency-prop-") as tmp:
        chain = BundleChain.start(Path(tmp), BUNDLE, roles={"city": ["org1"]})
        try:
            chain.call("city", "set_rules", cashback_bps=cashback_bps, **BASE)
            for r in RESIDENTS:
                chain.call("city", "enroll_resident", public_key=pk(r))
            for m, category in MERCHANTS.items():
                chain.call("city", "enroll_merchant", public_key=pk(m), name=m,
                           category=category)
            model = Model(cashback_bps)
            check(chain, model)
            for op in steps:
                apply(chain, model, op)
                check(chain, model)
        finally:
            chain.close()
