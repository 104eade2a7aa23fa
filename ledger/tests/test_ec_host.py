"""``ctx.ec`` (ledger/ec_host.py): results as ledger.ec computes them, fixed costs charged
before the work whatever the outcome, sticky refusals of misuse, caps on list sizes, and
chaincode on the in-process chain verifying a Schnorr proof with it."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ledger import ec
from ledger import ec_host as H
from ledger.contract import Caller, Context
from ledger.errors import Code, SandboxError
from ledger.sandbox import Meter
from ledger.testing import Chain, start_chain


def context(limit: int = 10**9) -> Context:
    return Context(chaincode="t", reader={}, caller=Caller(public_key=""), block_height=1,
                   block_time=1, tx_hash="", meter=Meter(limit), writable=True)


def steps(call: Callable[[H.EcHost], Any]) -> tuple[int, Any]:
    """(steps charged, result or the SandboxError raised) of one call on a fresh meter."""
    ctx = context()
    try:
        result = call(ctx.ec)
    except SandboxError as err:
        result = err
    return ctx._meter.steps, result


P = ec.base_mul(1111).hex()
Q = ec.base_mul(2222).hex()
K = 0xC0FFEE * 10**60 % ec.ORDER
NOT_ON_CURVE = "02" + f"{5:064x}"
X_TOO_BIG = "02" + f"{ec.FIELD + 1:064x}"


def test_constants_and_results_match_ledger_ec() -> None:
    e = context().ec
    assert (e.ORDER, e.G, e.IDENTITY) == (ec.ORDER, ec.GENERATOR.hex(), "00")
    p, q = ec.from_hex(P), ec.from_hex(Q)
    assert e.add(P, Q, "00") == ec.add(p, q).hex()
    assert e.add() == "00"
    assert e.add(P, e.neg(P)) == "00"
    assert e.neg(P) == ec.neg(p).hex() and e.neg("00") == "00"
    assert e.sub(P, Q) == ec.sub(p, q).hex()
    assert e.mul(K, P) == ec.mul(K, p).hex()
    assert e.mul(-K, P) == e.neg(e.mul(K, P))  # reduced modulo ORDER
    assert e.mul(K + ec.ORDER, P) == e.mul(K, P)
    assert e.mul(0, P) == "00" == e.mul(K, "00")
    assert e.base_mul(K) == ec.base_mul(K).hex()
    assert e.lincomb([[K, P], (3, Q)]) == ec.lincomb([(K, p), (3, q)]).hex()
    assert e.lincomb([]) == "00"
    assert e.small(5) == ec.small_multiple(5).hex()
    assert e.small(-(1 << 40)) == e.neg(e.small(1 << 40))
    assert e.small(0) == "00"
    assert e.scalar(ec.scalar_hex(K)) == K
    assert e.challenge("baas-vote/v1/t", ["eh", P, 0, 1]) == ec.challenge(
        "baas-vote/v1/t", "eh", p, 0, 1)
    assert e.transcript("baas-vote/v1/t", ["é", 7]) == ec.transcript(
        "baas-vote/v1/t", "é", 7).hex()
    assert e.transcript("d", ()) == ec.transcript("d").hex()


def test_is_point_and_is_scalar_answer_false_and_never_refuse() -> None:
    ctx = context()
    e = ctx.ec
    assert e.is_point(P) and e.is_point("00") and e.is_point(e.G)
    for bad in (NOT_ON_CURVE, X_TOO_BIG, P.upper(), "04" + P[2:], "zz", "", 5, None, [P],
                P.encode(), True):
        assert e.is_point(bad) is False, bad
    assert e.is_scalar("0" * 64) and e.is_scalar(f"{ec.ORDER - 1:064x}")
    for bad in (f"{ec.ORDER:064x}", "A" * 64, "0" * 63, 5, None, ["0" * 64]):
        assert e.is_scalar(bad) is False, bad
    assert ctx._meter.fatal is None
    assert ctx._meter.steps == 14 * H.EC_POINT_COST + 8 * H.EC_SCALAR_COST


# Each misuse next to a well-formed call of the same shape: both are charged the same.
SAME_SHAPE = {
    "mul, point not on the curve": (lambda e: e.mul(K, NOT_ON_CURVE), lambda e: e.mul(K, P)),
    "mul, x >= field prime": (lambda e: e.mul(K, X_TOO_BIG), lambda e: e.mul(K, P)),
    "mul, upper-case hex": (lambda e: e.mul(K, P.upper()), lambda e: e.mul(K, P)),
    "mul, uncompressed": (lambda e: e.mul(K, "04" + P[2:] + P[2:]), lambda e: e.mul(K, P)),
    "mul, scalar is text": (lambda e: e.mul(ec.scalar_hex(K), P), lambda e: e.mul(K, P)),
    "mul, scalar is a bool": (lambda e: e.mul(True, P), lambda e: e.mul(1, P)),
    "mul, scalar over 512 bits": (lambda e: e.mul(1 << 600, P), lambda e: e.mul(K, P)),
    "base_mul, scalar is None": (lambda e: e.base_mul(None), lambda e: e.base_mul(K)),
    "neg, bytes": (lambda e: e.neg(bytes.fromhex(P)), lambda e: e.neg(P)),
    "sub, second point bad": (lambda e: e.sub(P, NOT_ON_CURVE), lambda e: e.sub(P, Q)),
    "add, third point bad": (lambda e: e.add(P, Q, "zz"), lambda e: e.add(P, Q, P)),
    "lincomb, pair of three": (lambda e: e.lincomb([[1, P], [1, P, 1]]),
                               lambda e: e.lincomb([[1, P], [2, Q]])),
    "lincomb, point bad": (lambda e: e.lincomb([[1, P], [2, X_TOO_BIG]]),
                           lambda e: e.lincomb([[1, P], [2, Q]])),
    "small, over 2**40": (lambda e: e.small((1 << 40) + 1), lambda e: e.small(1 << 40)),
    "scalar, not below ORDER": (lambda e: e.scalar(f"{ec.ORDER:064x}"),
                                lambda e: e.scalar(f"{ec.ORDER - 1:064x}")),
    "challenge, int part >= 2**256": (lambda e: e.challenge("d", [1 << 256]),
                                      lambda e: e.challenge("d", [(1 << 256) - 1])),
    "challenge, negative int part": (lambda e: e.challenge("d", [-1]),
                                     lambda e: e.challenge("d", [1])),
}


@pytest.mark.parametrize("name", SAME_SHAPE)
def test_misuse_is_refused_at_the_cost_of_a_good_call(name: str) -> None:
    bad, good = SAME_SHAPE[name]
    bad_steps, refused = steps(bad)
    good_steps, result = steps(good)
    assert isinstance(refused, SandboxError), refused
    assert refused.code == Code.INVALID_ARGUMENT and refused.message.startswith("ec: ")
    assert not isinstance(result, SandboxError), result
    assert bad_steps == good_steps > 0


def test_costs_are_the_documented_constants() -> None:
    pa, mu, ad = H.EC_POINT_COST, H.EC_MUL_COST, H.EC_ADD_COST
    assert steps(lambda e: e.mul(K, P))[0] == pa + mu
    assert steps(lambda e: e.base_mul(K))[0] == mu
    assert steps(lambda e: e.small(3))[0] == mu
    assert steps(lambda e: e.add(P, Q, P))[0] == 3 * (pa + ad)
    assert steps(lambda e: e.neg(P))[0] == 2 * pa
    assert steps(lambda e: e.sub(P, Q))[0] == 3 * pa + 2 * ad
    assert steps(lambda e: e.lincomb([[1, P]] * 5))[0] == 5 * (pa + mu + ad)
    assert steps(lambda e: e.challenge("d", ["x" * 200, 5]))[0] == (
        H.EC_HASH_COST + 2 * H.EC_PART_COST + (1 + 200 + 32) // 64)
    # multi-byte characters pay for their UTF-8 bytes
    assert steps(lambda e: e.transcript("d", ["é" * 640]))[0] == (
        H.EC_HASH_COST + H.EC_PART_COST + (1 + 1280) // 64)
    # the same whatever the values: a zero scalar and the identity cost a full multiplication
    assert steps(lambda e: e.mul(0, "00"))[0] == pa + mu


@pytest.mark.parametrize("call,words", [
    (lambda e: e.add(*[P] * (H.MAX_ADD + 1)), "at most 256 points"),
    (lambda e: e.lincomb([[1, P]] * (H.MAX_LINCOMB + 1)), "at most 64"),
    (lambda e: e.lincomb({"a": 1}), "must be a list"),
    (lambda e: e.challenge("d", ["x"] * (H.MAX_PARTS + 1)), "at most 256 transcript parts"),
    (lambda e: e.challenge("d", ["x" * (H.MAX_TRANSCRIPT_BYTES)]), "at most 65536 bytes"),
    (lambda e: e.challenge("d", ["é" * (H.MAX_TRANSCRIPT_BYTES // 2)]), "at most 65536 bytes"),
    (lambda e: e.challenge("d", [b"x"]), "text or an integer"),
    (lambda e: e.challenge("d", [[1]]), "text or an integer"),
    (lambda e: e.challenge("d", [True]), "text or an integer"),
    (lambda e: e.challenge("d", "x"), "must be a list"),
    (lambda e: e.challenge("", []), "domain"),
    (lambda e: e.challenge("a\x00b", []), "domain"),
    (lambda e: e.challenge("x" * 257, []), "domain"),
    (lambda e: e.transcript("d", ["\ud800"]), "UTF-8"),
])
def test_lists_over_their_caps_and_wrong_parts_are_refused(call, words) -> None:
    _, refused = steps(call)
    assert isinstance(refused, SandboxError), refused
    assert refused.code == Code.INVALID_ARGUMENT
    assert words in refused.message


def test_a_refusal_is_sticky() -> None:
    ctx = context()
    with pytest.raises(SandboxError):
        ctx.ec.mul(K, NOT_ON_CURVE)
    with pytest.raises(SandboxError, match="invalid point"):
        ctx.ec.base_mul(1)  # the meter keeps the failure: nothing more runs
    with pytest.raises(SandboxError, match="invalid point"):
        ctx.get("k")


def test_the_charge_comes_before_the_work() -> None:
    """A budget too small for the charge stops the call before it decodes anything."""
    ctx = context(limit=H.EC_POINT_COST + H.EC_MUL_COST - 1)
    with pytest.raises(SandboxError) as info:
        ctx.ec.mul(K, NOT_ON_CURVE)  # out of gas, not a refusal of the point
    assert info.value.code == Code.OUT_OF_GAS


def test_same_calls_give_the_same_results_and_steps() -> None:
    def run() -> tuple[int, list[Any]]:
        ctx = context()
        e = ctx.ec
        out = [e.lincomb([[K, P], [-K, Q], [7, e.G]]), e.challenge("d", [P, Q, 1, "é"]),
               e.add(*[e.small(i) for i in range(-5, 6)]), e.transcript("d", [K])]
        return ctx._meter.steps, out

    assert run() == run()


# -- chaincode on the in-process chain --------------------------------------------------
SCHNORR = '''
@write
def check(ctx, public, proof, who):
    e = ctx.ec
    c = e.scalar(proof[0])
    s = e.scalar(proof[1])
    t = e.lincomb([[s, e.G], [-c, public]])
    ok = c == e.challenge("baas-vote/v1/test", [who, public, t])
    ctx.put("ok/" + who, ok)
    return ok

@write
def swallow(ctx, point):
    try:
        ctx.ec.mul(3, point)
    except Exception:
        pass
    ctx.put("after", 1)
    return 1

@read
def peek(ctx, name):
    return str(getattr(ctx.ec, name))
'''


@pytest.fixture
def chain(tmp_path: Path) -> Iterator[Chain]:
    c = start_chain(tmp_path / "app")
    result = c.block(c.tx("admin1", "_lifecycle", "install",
                          ["schnorr", "1", SCHNORR])).tx_results[0]
    assert result.code == 0, result.log
    yield c
    c.app.close()


def schnorr_proof(x: int, who: str, w: int) -> tuple[str, list[str]]:
    public = ec.base_mul(x)
    t = ec.base_mul(w)
    c = ec.challenge("baas-vote/v1/test", who, public, t)
    return public.hex(), [ec.scalar_hex(c), ec.scalar_hex(w + c * x)]


def test_chaincode_verifies_a_schnorr_proof_at_the_same_cost_either_way(chain: Chain) -> None:
    public, proof = schnorr_proof(424242, "org1", 777)
    other, _ = schnorr_proof(424243, "org1", 777)
    block = chain.block(
        chain.tx("user1", "schnorr", "check", [public, proof, "org1"]),
        chain.tx("user1", "schnorr", "check", [public, proof, "org2"]),  # bound to org1
        chain.tx("user1", "schnorr", "check", [other, proof, "org3"]),  # another key
    )
    good, wrong_who, wrong_key = block.tx_results
    assert [r.code for r in block.tx_results] == [0, 0, 0], [r.log for r in block.tx_results]
    assert [json.loads(r.data) for r in block.tx_results] == [True, False, False]
    assert good.gas_used == wrong_who.gas_used == wrong_key.gas_used


def test_chaincode_cannot_catch_a_refusal_or_reach_the_meter(chain: Chain) -> None:
    before = chain.app.store.root()
    block = chain.block(chain.tx("user1", "schnorr", "swallow", [NOT_ON_CURVE]))
    result = block.tx_results[0]
    assert result.code == Code.INVALID_ARGUMENT, result.log
    assert "invalid point" in result.log
    assert block.app_hash == before  # ctx.put after the catch was not applied
    for name in ("_meter", "EXPOSED", "_point", "__class__"):
        answer = chain.call("schnorr", "peek", [name])
        assert answer.code == Code.SANDBOX_VIOLATION, (name, answer.log)
    assert chain.value("schnorr", "peek", ["ORDER"]) == str(ec.ORDER)


def test_chaincode_guide_ec_example(chain: Chain) -> None:
    """The key-proof check printed in docs/chaincode-guide.md works as shown."""
    guide = (Path(__file__).resolve().parents[2] / "docs" / "chaincode-guide.md").read_text()
    start = guide.index("```python\n", guide.index("### Group operations")) + len("```python\n")
    source = guide[start:guide.index("```", start)]
    result = chain.block(chain.tx("admin1", "_lifecycle", "install",
                                  ["keys", "1", source])).tx_results[0]
    assert result.code == 0, result.log
    x, w = 31337, 4242
    public, t = ec.base_mul(x), ec.base_mul(w)
    c = ec.challenge("example/v1/key", "org1", public, t)
    proof = [ec.scalar_hex(c), ec.scalar_hex(w + c * x)]
    assert chain.value("keys", "check_key", ["org1", public.hex(), proof]) is True
    assert chain.value("keys", "check_key", ["org2", public.hex(), proof]) is False
    bad = chain.call("keys", "check_key", ["org1", public.hex(), [proof[0], "zz"]])
    assert bad.code == Code.CHAINCODE_ERROR and "malformed key proof" in bad.log
