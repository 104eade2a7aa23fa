"""Sandbox escape attempts and resource guards: each fails with a specific, repeatable error."""

from __future__ import annotations

import textwrap

import pytest

from ledger.contract import Caller, Context
from ledger.errors import Code, LedgerError, SandboxError
from ledger.sandbox import Meter, compile_chaincode, invoke


class DictReader:
    def __init__(self, data: dict[bytes, bytes] | None = None) -> None:
        self.data = data or {}

    def get(self, key: bytes) -> bytes | None:
        return self.data.get(key)

    def range(self, start: bytes, end: bytes, limit: int) -> list[tuple[bytes, bytes]]:
        return sorted((k, v) for k, v in self.data.items() if start <= k < end)[:limit]


def run(source: str, function: str = "main", args: list | None = None, *,
        limit: int = 50_000, writable: bool = True) -> tuple[object, int, Context]:
    compiled = compile_chaincode(textwrap.dedent(source))
    meter = Meter(limit)
    ctx = Context(chaincode="t", reader=DictReader(), caller=Caller(public_key="ab" * 32),
                  block_height=7, block_time=123, tx_hash="00", meter=meter, writable=writable)
    result, steps = invoke(compiled, function, args or [], ctx, meter=meter,
                           allow_write=writable)
    return result, steps, ctx


def failure(source: str, function: str = "main", **kwargs: object) -> tuple[Code, str]:
    """Run twice; the failure must be identical both times (determinism)."""
    outcomes = []
    for _ in range(2):
        with pytest.raises(LedgerError) as info:
            run(source, function, **kwargs)
        outcomes.append((info.value.code, info.value.message))
    assert outcomes[0] == outcomes[1]
    return outcomes[0]


def rejected(source: str) -> str:
    with pytest.raises(SandboxError) as info:
        compile_chaincode(textwrap.dedent(source))
    assert info.value.code == Code.CODE_REJECTED
    return info.value.message


OK_HEADER = """
@write
def main(ctx):
"""


def test_plain_chaincode_runs_and_counts_steps() -> None:
    result, steps, ctx = run("""
        @write
        def main(ctx, n):
            total = 0
            for i in range(n):
                total += i
            ctx.put("total", total)
            return {"total": total, "height": ctx.block_height}
    """, args=[10])
    assert result == {"total": 45, "height": 7}
    assert ctx.writes.data[b"t/total"] == b"45"
    loop = """
        @write
        def main(ctx, n):
            total = 0
            for i in range(n):
                total += i
            return total
    """
    _, steps_10, _ = run(loop, args=[10])
    _, steps_20, _ = run(loop, args=[20])
    # one step per iteration, plus the range's allocation charge (1 step per 16 items)
    assert steps_20 - steps_10 == 10 + 1


@pytest.mark.parametrize("source, expected", [
    ("import os\n@read\ndef f(ctx):\n    return 1\n", "import of 'os' is not allowed"),
    ("from os import path\n@read\ndef f(ctx):\n    return 1\n", "import from 'os' is not allowed"),
    ("import subprocess\n@read\ndef f(ctx):\n    return 1\n", "import of 'subprocess'"),
    ("@read\ndef f(ctx):\n    return __import__('os')\n", '"__import__" is an invalid variable'),
    ("@read\ndef f(ctx):\n    return ctx.__class__\n", '"__class__" is an invalid attribute'),
    ("@read\ndef f(ctx):\n    return f.__globals__\n", '"__globals__" is an invalid attribute'),
    ("@read\ndef f(ctx):\n    return ().__class__.__bases__[0].__subclasses__()\n",
     '"__class__" is an invalid attribute'),
    ("@read\ndef f(ctx):\n    return __builtins__\n", '"__builtins__" is an invalid variable'),
    ("@read\ndef f(ctx):\n    return eval('1')\n", "Eval calls are not allowed"),
    ("@read\ndef f(ctx):\n    return exec('1')\n", "Exec calls are not allowed"),
    ("class A:\n    pass\n@read\ndef f(ctx):\n    return 1\n", "class definitions"),
    ("x = 1\n@write\ndef f(ctx):\n    global x\n    x = 2\n", "global statements"),
    ("@read\ndef f(ctx):\n    yield 1\n", "generator functions"),
    ("@read\ndef f(ctx):\n    return {1, 2}\n", "sets are not allowed"),
    ("@read\ndef f(ctx):\n    return f'{ctx.block_height:>100000000}'\n", "format specs"),
    ("@read\ndef f(ctx):\n    print('hi')\n", "print is not available"),
    ("def f(ctx):\n    return 1\n", "no function is exported"),
])
def test_forbidden_source_is_rejected_at_compile_time(source: str, expected: str) -> None:
    assert expected in rejected(source)


def test_import_allow_list_works() -> None:
    result, _, _ = run("""
        import math
        from hashing import sha256
        @read
        def main(ctx):
            return [math.isqrt(17), sha256("a")[:8]]
    """, writable=False)
    assert result == [4, "ca978112"]


def test_open_and_clock_and_randomness_do_not_exist() -> None:
    for name in ("open", "type", "vars", "dir", "id", "hash", "globals", "locals", "compile",
                 "setattr", "object", "memoryview", "bytearray"):
        code, message = failure(f"""
            @read
            def main(ctx):
                return {name}
        """)
        assert code == Code.CHAINCODE_ERROR
        assert message == f"NameError: name '{name}' is not defined"
    assert "import of 'time'" in rejected("import time\n@read\ndef f(ctx):\n    return 1\n")
    assert "import of 'random'" in rejected("import random\n@read\ndef f(ctx):\n    return 1\n")


def test_getattr_with_computed_dunder_name_is_a_violation() -> None:
    code, message = failure("""
        @read
        def main(ctx):
            name = "__" + "globals" + "__"
            return getattr(main, name)
    """)
    assert (code, message) == (Code.SANDBOX_VIOLATION, "attribute '__globals__' is not accessible")


def test_getattr_walk_to_builtins_and_subclasses_is_a_violation() -> None:
    code, message = failure("""
        @read
        def main(ctx):
            cls = getattr(ctx, "_" + "_class__")
            return getattr(cls, "__subclasses__")()
    """)
    assert (code, message) == (Code.SANDBOX_VIOLATION, "attribute '__class__' is not accessible")
    code, message = failure("""
        @read
        def main(ctx):
            return getattr(ctx, "_reader")
    """)
    assert (code, message) == (Code.SANDBOX_VIOLATION, "attribute '_reader' is not accessible")


def test_non_allow_listed_attribute_is_a_violation() -> None:
    code, message = failure("""
        @read
        def main(ctx):
            return "abc".format
    """)
    assert (code, message) == (Code.SANDBOX_VIOLATION,
                               "attribute 'format' of str is not accessible")
    code, message = failure("""
        @read
        def main(ctx):
            return ctx.writes
    """)
    assert code == Code.SANDBOX_VIOLATION


def test_infinite_loop_runs_out_of_gas_identically() -> None:
    code, message = failure("""
        @write
        def main(ctx):
            while True:
                pass
    """, limit=5_000)
    assert (code, message) == (Code.OUT_OF_GAS, "execution budget of 5000 steps exhausted")


def test_catching_out_of_gas_does_not_rescue_the_call() -> None:
    code, _ = failure("""
        @write
        def main(ctx):
            try:
                while True:
                    pass
            except Exception:
                pass
            return "escaped"
    """, limit=1_000)
    assert code == Code.OUT_OF_GAS


def test_deep_recursion_hits_the_call_depth_limit() -> None:
    code, message = failure("""
        def down(n):
            return down(n + 1)
        @write
        def main(ctx):
            return down(0)
    """)
    assert (code, message) == (Code.RESOURCE_LIMIT, "call depth limit of 64 exceeded")


def test_lambda_recursion_hits_the_call_depth_limit() -> None:
    code, _ = failure("""
        @write
        def main(ctx):
            f = lambda n: f(n + 1)
            return f(0)
    """)
    assert code == Code.RESOURCE_LIMIT


@pytest.mark.parametrize("expression, code", [
    ("'x' * 10**9", Code.RESOURCE_LIMIT),
    ("[0] * 10**8", Code.RESOURCE_LIMIT),
    ("10 ** 10 ** 8", Code.RESOURCE_LIMIT),
    ("1 << 10**9", Code.RESOURCE_LIMIT),
    ("list(range(10**9))", Code.RESOURCE_LIMIT),
    ("'ab'.replace('a', 'a' * 900000) * 2", Code.RESOURCE_LIMIT),
    ("'%s' % 'x'", Code.SANDBOX_VIOLATION),
])
def test_huge_allocations_are_refused(expression: str, code: Code) -> None:
    got, _ = failure(f"""
        @write
        def main(ctx):
            return len({expression})
    """, limit=10**6)
    assert got == code


def test_string_doubling_loop_is_stopped() -> None:
    code, _ = failure("""
        @write
        def main(ctx):
            s = "x"
            for i in range(100):
                s += s
            return len(s)
    """, limit=10**6)
    assert code == Code.RESOURCE_LIMIT


def test_repeated_squaring_is_stopped() -> None:
    code, _ = failure("""
        @write
        def main(ctx):
            x = 3
            while True:
                x = x * x
    """)
    assert code == Code.RESOURCE_LIMIT


def test_formatting_a_function_is_refused_because_it_prints_an_address() -> None:
    code, message = failure("""
        @write
        def main(ctx):
            return f"{main}"
    """)
    assert (code, message) == (Code.SANDBOX_VIOLATION, "cannot format a function value")


def test_read_function_cannot_write() -> None:
    code, message = failure("""
        @read
        def main(ctx):
            try:
                ctx.put("k", 1)
            except Exception:
                pass
            return 1
    """, writable=False)
    assert (code, message) == (Code.READ_ONLY, "put is not allowed in a read function")


def test_write_function_refused_when_only_reads_are_allowed() -> None:
    code, _ = failure("""
        @write
        def main(ctx):
            return 1
    """, writable=False)
    assert code == Code.READ_ONLY


def test_module_globals_do_not_survive_between_calls() -> None:
    source = """
        seen = []
        @write
        def main(ctx):
            seen.append(1)
            return len(seen)
    """
    compiled = compile_chaincode(textwrap.dedent(source))
    for _ in range(3):
        meter = Meter(1000)
        ctx = Context(chaincode="t", reader=DictReader(), caller=Caller(public_key=""),
                      block_height=1, block_time=0, tx_hash="", meter=meter, writable=True)
        assert invoke(compiled, "main", [], ctx, meter=meter)[0] == 1


def test_contract_error_and_python_errors_become_chaincode_errors() -> None:
    assert failure("""
        @write
        def main(ctx):
            raise ContractError("insufficient funds")
    """) == (Code.CHAINCODE_ERROR, "insufficient funds")
    assert failure("""
        @write
        def main(ctx):
            return {}["missing"]
    """) == (Code.CHAINCODE_ERROR, "KeyError: 'missing'")


def test_unknown_function_and_bad_return_value() -> None:
    assert failure("@write\ndef main(ctx):\n    return 1\n", "other")[0] == Code.UNKNOWN_FUNCTION
    assert failure("@write\ndef main(ctx):\n    return 1.5\n")[0] == Code.CHAINCODE_ERROR


def test_ctx_range_and_delete_see_own_writes() -> None:
    result, _, _ = run("""
        @write
        def main(ctx):
            ctx.put("a", 1)
            ctx.put("b", 2)
            ctx.put("c", 3)
            ctx.delete("b")
            return ctx.range("a", "z")
    """)
    assert result == [["a", 1], ["c", 3]]


def test_accumulating_allocations_are_paid_for() -> None:
    """Many allocations under the per-object limit still exhaust the budget (memory bound)."""
    code, message = failure("""
        @write
        def main(ctx):
            keep = []
            while True:
                keep.append("x" * 900000)
    """, limit=200_000)
    assert (code, message) == (Code.OUT_OF_GAS, "execution budget of 200000 steps exhausted")


def test_reserved_event_types_are_refused() -> None:
    code, message = failure("""
        @write
        def main(ctx):
            ctx.emit("tm", event="NewBlock")
    """)
    assert (code, message) == (Code.INVALID_ARGUMENT,
                               "event type 'tm' is reserved by CometBFT/the host")


@pytest.mark.timeout(120)  # without size charging these loops would run for many minutes
@pytest.mark.parametrize("operation", [
    "hashing.sha256(big)",
    "big.upper()",
    "big.count('y')",
    "big[:]",
    "'y' in big",
    "big == other",
    "sorted(items)",
    "sum(items)",
    "max(items)",
    "[*items]",
    "items.index(1) if 1 in items else 0",
    "f'{items}'",
    "json.dumps(items[:400000])",
])
def test_work_on_big_values_is_paid_for(operation: str) -> None:
    """O(n) operations in C cost steps in proportion to n, so loops over them stop early."""
    code, message = failure(f"""
        import hashing
        import json
        @write
        def main(ctx):
            big = "x" * 500000
            other = "x" * 500000
            items = [0] * 500000
            while True:
                {operation}
    """, limit=200_000)
    assert (code, message) == (Code.OUT_OF_GAS, "execution budget of 200000 steps exhausted")


def test_round_with_huge_ndigits_is_refused() -> None:
    code, message = failure("""
        @write
        def main(ctx):
            return round(5, -10**9)
    """)
    assert (code, message) == (Code.SANDBOX_VIOLATION,
                               "round() ndigits must be an integer in -64..64")


def test_ctx_exposes_block_and_caller_facts() -> None:
    result, _, _ = run("""
        @read
        def main(ctx):
            c = ctx.caller
            return [ctx.block_height, ctx.block_time, ctx.tx_hash, ctx.chaincode,
                    c.public_key[:4], c.org, c.member, list(c.roles), c.has_role("admin")]
    """, writable=False)
    assert result == [7, 123, "00", "t", "abab", None, None, [], False]


@pytest.mark.parametrize("call, message", [
    ("ctx.put('', 1)", "keys are strings of 1..256 characters without NUL"),
    ("ctx.put('k' * 257, 1)", "keys are strings of 1..256 characters without NUL"),
    ("ctx.put(5, 1)", "keys are strings of 1..256 characters without NUL"),
    ("ctx.put('k', 1.5)",
     "value is not storable: floats are not allowed (use integers or strings)"),
    ("ctx.put('k', 'x' * 70000)", "value is 70002 bytes, limit 65536"),
    ("ctx.range(limit=5000)", "limit must be 1..1000"),
    ("ctx.emit('bad type')", "event type must be an identifier"),
])
def test_ctx_rejects_bad_input_with_invalid_argument(call: str, message: str) -> None:
    assert failure(f"""
        @write
        def main(ctx):
            {call}
    """) == (Code.INVALID_ARGUMENT, message)


def test_ctx_range_limit_and_bounds() -> None:
    result, _, _ = run("""
        @write
        def main(ctx):
            for i in range(30):
                ctx.put("item" + str(100 + i), i)
            ctx.put("other", 0)
            return [len(ctx.range("item", "item~", 1000)), ctx.range("item", "item~", 2),
                    len(ctx.range())]
    """)
    assert result == [30, [["item100", 0], ["item101", 1]], 31]
