"""An adversarial corpus for the chaincode sandbox: hostile chaincode, one case per attempt.

Each case names the class of attack from issue 9 it belongs to and the exact outcome
every node must reach (a result code, or 0 for a call that completes within its budget).
``ledger/tests/test_sandbox_corpus.py`` runs it in CI; ``bench/sandbox_cost.py`` runs it
and measures the wall time and memory each call takes; ``python -m
ledger.tests.sandbox_corpus`` prints a digest of every outcome (steps included) and the
app hash of a chain that ran part of it, for comparing nodes (hash seeds, Python builds).

A ``loop`` case repeats its operation until the budget is gone (catching every exception
on the way), so it measures the worst cost per step of that operation.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import textwrap
from dataclasses import dataclass
from typing import Any

from ledger.contract import Caller, Context
from ledger.errors import Code, LedgerError
from ledger.sandbox import Meter, compile_chaincode, compile_steps, invoke
from ledger.sandbox.runtime import DEFAULT_STEP_LIMIT

OK = 0
GAS = Code.OUT_OF_GAS
LIMIT = Code.RESOURCE_LIMIT
VIOLATION = Code.SANDBOX_VIOLATION
REJECTED = Code.CODE_REJECTED
ERROR = Code.CHAINCODE_ERROR
ARG = Code.INVALID_ARGUMENT
READ_ONLY = Code.READ_ONLY

HALT, CRASH, OUTPUT, HOST, BUILTIN, MEMORY, NONDET, ESCAPE, INSTALL = (
    "chain halt", "host crash", "unbounded output", "unmetered host call",
    "unmetered builtin", "unmetered memory", "nondeterminism", "escape", "install")


@dataclass(frozen=True)
class Case:
    name: str
    kind: str
    source: str  # a whole module; see ``body`` and ``loop`` for the usual shapes
    expect: int  # Code of the failure, or OK
    function: str = "main"


PRELUDE = "import json\nimport math\nimport hashing\n"


def body(name: str, kind: str, code: str, expect: int, *, setup: str = "") -> Case:
    """``code`` (one or more lines) is the body of ``@write def main(ctx)``."""
    lines = [*setup.split("\n"), *code.split("\n")] if setup else code.split("\n")
    src = PRELUDE + "@write\ndef main(ctx):\n" + "".join(f"    {line}\n" for line in lines)
    return Case(name, kind, src, expect)


def loop(name: str, kind: str, operation: str, expect: int = GAS, *,
         setup: str = "") -> Case:
    """Repeat ``operation`` until the budget runs out, swallowing every exception."""
    lines = [*(setup.split("\n") if setup else []), "while True:", "    try:",
             f"        {operation}", "    except Exception:", "        pass"]
    src = PRELUDE + "@write\ndef main(ctx):\n" + "".join(f"    {line}\n" for line in lines)
    return Case(name, kind, src, expect)


def module(name: str, kind: str, source: str, expect: int) -> Case:
    return Case(name, kind, PRELUDE + textwrap.dedent(source), expect)


BIG = "big = (1 << 65000) - 12345; half = (1 << 32500) - 777"
MB = "s = 'x' * 1000000"
ROWS = "row = list(range(1000)); rows = [row] * 1000"

CASES: list[Case] = [
    # -- a value that cannot cross the ABCI boundary must not halt the chain ----------------
    body("contract-error-lone-surrogate", HALT, "raise ContractError(chr(0xD800))", ERROR),
    body("return-lone-surrogate-literal", HALT, "return '\\ud800'", REJECTED),
    body("return-surrogate-from-json", HALT, "return json.loads('\"\\\\ud800\"')", ERROR),
    body("emit-surrogatepass-decode", HALT,
         "ctx.emit('e', a=b'\\xed\\xa0\\x80'.decode('utf-8', 'surrogatepass'))", VIOLATION),
    body("decode-surrogateescape", HALT, "return b'\\xff'.decode('utf-8', 'surrogateescape')",
         VIOLATION),
    body("raise-huge-message", HALT, "raise ValueError('x' * 1000000)", ERROR),
    body("raise-shared-huge-args", HALT, "raise ContractError(*([s] * 300))", GAS,
         setup=MB),
    body("raise-big-int", HALT, "raise ContractError(10 ** 5000)", ERROR),
    body("raise-key-error-big-tuple", HALT, "raise KeyError((10 ** 4000,) * 3)", ERROR),
    body("return-function", HALT, "return [main]", ERROR),
    body("return-bytes", HALT, "return b'abc'", ERROR),
    body("return-int-beyond-64-bits", HALT, "return 1 << 64", ERROR),
    # -- C recursion and interpreter limits must not crash the process ----------------------
    body("nested-map-66000", CRASH,
         "it = [1]\nfor i in range(66000):\n    it = map(abs, it)\nreturn list(it)", GAS),
    body("nested-filter", CRASH,
         "it = [1]\nfor i in range(66000):\n    it = filter(None, it)\nreturn list(it)", GAS),
    body("nested-zip", CRASH,
         "it = [1]\nfor i in range(66000):\n    it = zip(it)\nreturn len(list(it))", GAS),
    body("nested-enumerate", CRASH,
         "it = [1]\nfor i in range(66000):\n    it = enumerate(it)\nreturn len(list(it))",
         GAS),
    body("nested-reversed-map", CRASH,
         "it = [1]\nfor i in range(66000):\n    it = reversed(list(map(abs, it)))\n"
         "return list(it)", GAS),
    body("short-map-chain-works", CRASH,
         "it = [1, -2]\nfor i in range(50):\n    it = map(abs, it)\nreturn list(it)", OK),
    body("deep-list-compare", CRASH,
         "x = []\nfor i in range(5000):\n    x = [x]\nreturn x == x", LIMIT),
    body("deep-list-in", CRASH,
         "x = []\nfor i in range(5000):\n    x = [x]\nreturn x in [x]", LIMIT),
    body("deep-tuple-hash", CRASH,
         "x = ()\nfor i in range(5000):\n    x = (x,)\nreturn x in {}", LIMIT),
    body("deep-list-format", CRASH,
         "x = []\nfor i in range(5000):\n    x = [x]\nreturn str(x)", VIOLATION),
    body("deep-list-return", CRASH,
         "x = []\nfor i in range(5000):\n    x = [x]\nreturn x", LIMIT),
    body("deep-list-put", CRASH,
         "x = []\nfor i in range(5000):\n    x = [x]\nctx.put('k', x)", LIMIT),
    body("deep-list-sorted", CRASH,
         "x = []\nfor i in range(5000):\n    x = [x]\nreturn len(sorted([x, x]))", LIMIT),
    body("deep-list-json", CRASH,
         "x = []\nfor i in range(5000):\n    x = [x]\nreturn json.dumps(x)", LIMIT),
    body("deep-json-loads", CRASH, "return json.loads('[' * 100000)", ERROR),
    module("deep-recursion", CRASH, """
        def f(n):
            return f(n + 1)
        @write
        def main(ctx):
            return f(0)
    """, LIMIT),
    module("recursion-caught", CRASH, """
        def f(n):
            try:
                return f(n + 1)
            except Exception:
                return n
        @write
        def main(ctx):
            return f(0)
    """, LIMIT),
    module("recursion-through-sorted-keys", CRASH, """
        def f(n):
            return sorted([1, 2], key=lambda x: f(n + 1))
        @write
        def main(ctx):
            return f(0)
    """, LIMIT),
    module("lambda-recursion", CRASH, """
        @write
        def main(ctx):
            f = lambda g, n: g(g, n + 1)
            return f(f, 0)
    """, LIMIT),
    Case("deep-expression-source", CRASH,
         "@write\ndef main(ctx):\n    return " + "+".join(["1"] * 20000) + "\n", REJECTED),
    Case("deep-parens-source", CRASH,
         "@write\ndef main(ctx):\n    return " + "(" * 500 + "1" + ")" * 500 + "\n", REJECTED),
    Case("deep-blocks-source", CRASH, "@write\ndef main(ctx):\n" + "".join(
        "    " * (i + 1) + "if 1:\n" for i in range(90)) + "    " * 91 + "pass\n", OK),
    # -- output: results, events and writes are charged and capped -------------------------
    body("return-shared-1mb-x300", OUTPUT, "return [s] * 300", LIMIT, setup=MB),
    body("return-300kb", OUTPUT, "return ['x' * 1000] * 300", LIMIT),
    body("return-200kb-ok", OUTPUT, "return ['x' * 1000] * 200", OK),
    body("emit-8000-big-events", OUTPUT,
         "attrs = {f'a{i}': 'v' * 1024 for i in range(16)}\n"
         "for i in range(8000):\n    ctx.emit('e', **attrs)", LIMIT),
    body("emit-many-small-events", OUTPUT,
         "for i in range(100000):\n    ctx.emit('e', a='1')", LIMIT),
    body("emit-shared-value", OUTPUT, "ctx.emit('e', v=[s] * 300)", ARG, setup=MB),
    body("json-dumps-shared", OUTPUT, "return len(json.dumps([s] * 300))", LIMIT, setup=MB),
    body("put-many-64kb-values", OUTPUT,
         "v = 'x' * 65000\nfor i in range(1000):\n    ctx.put(f'k{i}', v)", LIMIT),
    body("put-shared-value", OUTPUT, "ctx.put('k', [s] * 300)", ARG, setup=MB),
    body("put-many-deletes", OUTPUT,
         "for i in range(100000):\n    ctx.delete(f'k{i}')", GAS),
    # -- host calls pay before they work; their failures are sticky ------------------------
    loop("put-oversized-retry", HOST, "ctx.put('k', [s] * 300)", ARG, setup=MB),
    loop("put-oversized-string-retry", HOST, "ctx.put('k', s)", ARG, setup=MB),
    loop("put-bad-key-retry", HOST, "ctx.put(s, 1)", ARG, setup=MB),
    loop("emit-1mb-name", HOST, "ctx.emit(s)", ARG, setup=MB),
    loop("emit-1mb-attr-name", HOST, "ctx.emit('e', **{s: 1})", ARG, setup=MB),
    loop("emit-1mb-value", HOST, "ctx.emit('e', a=s)", ARG, setup=MB),
    loop("range-big-bounds", HOST, "ctx.range(s, s)", ARG, setup=MB),
    loop("range-limit-1000", HOST, "ctx.range('', None, 1000)"),
    loop("range-after-deletes", HOST, "ctx.range('', None, 1000)",
         setup="for i in range(2000):\n    ctx.delete('k' + ('0000' + str(i))[-5:])"),
    loop("has-big-values", HOST, "ctx.has('big')"),
    loop("get-big-values", HOST, "ctx.get('big')"),
    loop("get-missing", HOST, "ctx.get('nope')"),
    loop("caller-has-role", HOST, "ctx.caller.has_role('admin')"),
    loop("require-role-retry", HOST, "ctx.require_role('admin')"),
    loop("require-huge-role-retry", HOST, "ctx.require_role(s)", setup=MB),
    loop("has-role-huge", HOST, "ctx.caller.has_role(s)", setup=MB),
    # ctx.ec (secp256k1 in libsecp256k1): fixed costs before the work, misuse sticky
    loop("ec-lincomb-64", HOST, "ctx.ec.lincomb(pairs)",
         setup="pairs = [[-(i + 1), ctx.ec.base_mul(i + 1)] for i in range(64)]"),
    loop("ec-add-256", HOST, "ctx.ec.add(*points)",
         setup="points = [ctx.ec.small(i) for i in range(256)]"),
    loop("ec-mul-identity", HOST, "ctx.ec.mul(0, '00')"),
    loop("ec-transcript-64k", HOST, "ctx.ec.transcript('d', [s[:65000]])", setup=MB),
    loop("ec-challenge-256-ints", HOST, "ctx.ec.challenge('d', big)",
         setup="big = [(1 << 256) - 1 - i for i in range(256)]"),
    loop("ec-bad-point-retry", HOST, "ctx.ec.mul(3, '02' + '0' * 63 + '5')", ARG),
    loop("ec-x-above-field-retry", HOST, "ctx.ec.is_point('02' + 'f' * 64) or "
         "ctx.ec.neg('02' + 'f' * 64)", ARG),
    loop("ec-huge-transcript-retry", HOST, "ctx.ec.challenge('d', [s])", ARG, setup=MB),
    loop("ec-lincomb-over-cap-retry", HOST, "ctx.ec.lincomb([[1, ctx.ec.G]] * 65)", ARG),
    loop("ec-add-over-cap-retry", HOST, "ctx.ec.add(*([ctx.ec.G] * 1000))", ARG),
    body("ec-results", NONDET,
         "e = ctx.ec\nx = e.base_mul(123456789)\n"
         "c = e.challenge('baas-vote/v1/corpus', ['eh', x, 0, 1, 'é'])\n"
         "return [x, c % 1000000007, e.lincomb([[c, x], [-c, e.G]]), e.add(x, e.neg(x)), "
         "e.small(-(1 << 40)), e.transcript('d', [c]), e.is_point('02' + 'f' * 64)]", OK),
    # -- builtins and methods pay in proportion to their worst-case work --------------------
    loop("rfind-long-pattern", BUILTIN, "t.rfind(p)",
         setup="t = 'a' * 1000000\np = 'a' * 100000 + 'b'"),
    loop("rindex-long-pattern", BUILTIN, "t.rindex(p)",
         setup="t = 'a' * 1000000\np = 'b' + 'a' * 100000"),
    loop("rsplit-long-pattern", BUILTIN, "t.rsplit(p)",
         setup="t = 'a' * 1000000\np = 'a' * 100000 + 'b'"),
    loop("rpartition-long-pattern", BUILTIN, "t.rpartition(p)",
         setup="t = 'a' * 1000000\np = 'a' * 100000 + 'b'"),
    loop("find-long-pattern", BUILTIN, "t.find(p)",
         setup="t = 'a' * 1000000\np = 'a' * 100000 + 'b'"),
    loop("count-long-pattern", BUILTIN, "t.count(p)",
         setup="t = 'a' * 1000000\np = 'a' * 100000 + 'b'"),
    loop("split-long-pattern", BUILTIN, "t.split(p)",
         setup="t = 'a' * 1000000\np = 'a' * 100000 + 'b'"),
    loop("strip-long-chars", BUILTIN, "t.strip(p)",
         setup="t = 'a' * 1000000\np = 'b' * 900000 + 'a'"),
    loop("lstrip-long-chars", BUILTIN, "t.lstrip(p)",
         setup="t = 'a' * 1000000\np = 'b' * 900000 + 'a'"),
    loop("replace-growing", BUILTIN, "t.replace('a', 'bb')", setup="t = 'a' * 400000"),
    loop("join-big", BUILTIN, "','.join(parts)", setup="parts = ['ab'] * 300000"),
    loop("upper-sharp-s", BUILTIN, "t.upper()", LIMIT, setup="t = 'ß' * 600000"),
    body("encode-punycode", BUILTIN, "return len(('ü' * 100000).encode('punycode'))",
         VIOLATION),
    body("encode-idna", BUILTIN, "return len('a.b'.encode('idna'))", VIOLATION),
    body("encode-utf16", BUILTIN, "return len('ab'.encode('utf-16'))", VIOLATION),
    body("encode-rot13", BUILTIN, "return 'ab'.encode('rot13')", VIOLATION),
    body("decode-latin1", BUILTIN, "return b'ab'.decode('latin-1')", VIOLATION),
    body("encode-keyword-codec", BUILTIN, "return len('ab'.encode(encoding='utf_32'))",
         VIOLATION),
    body("encode-utf8-ok", BUILTIN, "return b'\\xc3\\xa9'.decode('utf-8') + 'é'.encode().hex()",
         OK),
    loop("sha256-500k", BUILTIN, "hashing.sha256(t)", setup="t = 'x' * 500000"),
    body("colliding-int-keys", BUILTIN,
         "d = {}\nfor i in range(50000):\n    d[i * (2 ** 61 - 1)] = 1", VIOLATION),
    body("colliding-tuple-keys", BUILTIN,
         "d = {}\nfor i in range(1 << 16):\n"
         "    d[tuple(-1 if i >> b & 1 else -2 for b in range(16))] = 1", VIOLATION),
    body("colliding-keys-dict-ctor", BUILTIN,
         "return len(dict([(i * (2 ** 61 - 1), 1) for i in range(5000)]))", VIOLATION),
    body("colliding-keys-setdefault", BUILTIN,
         "d = {}\nfor i in range(50000):\n    d.setdefault(i << 61, 1)", VIOLATION),
    body("colliding-keys-comprehension", BUILTIN,
         "return len({i << 61: 1 for i in range(50000)})", VIOLATION),
    loop("round-big-negative", BUILTIN, "round(big, -64)", setup=BIG),
    loop("unary-minus-big", BUILTIN, "-big", setup=BIG),
    loop("invert-big", BUILTIN, "~big", setup=BIG),
    loop("abs-big", BUILTIN, "abs(-big)", setup=BIG),
    loop("floordiv-big", BUILTIN, "big // half", setup=BIG),
    loop("mod-big", BUILTIN, "big % half", setup=BIG),
    loop("divmod-big", BUILTIN, "divmod(big, half)", setup=BIG),
    loop("mul-big", BUILTIN, "half * half", setup=BIG),
    loop("pow-big", BUILTIN, "half ** 2", setup=BIG),
    loop("gcd-big", BUILTIN, "math.gcd(big, half)", setup=BIG),
    loop("isqrt-big", BUILTIN, "math.isqrt(big)", setup=BIG),
    loop("int-parse-5000-digits", BUILTIN, "int(d)", setup="d = '9' * 5000"),
    loop("int-parse-16000-digits", BUILTIN, "int(d)", setup="d = '9' * 16000"),
    loop("int-parse-19000-digits", BUILTIN, "int(d)", LIMIT, setup="d = '9' * 19000"),
    loop("fstring-big-int", BUILTIN, "f'{big}'", setup=BIG),
    loop("str-list-of-big-ints", BUILTIN, "str([big, big])", setup=BIG),
    loop("sorted-rows", BUILTIN, "sorted(rows)", setup=ROWS),
    loop("max-rows", BUILTIN, "max(rows)", setup=ROWS),
    loop("rows-equal", BUILTIN, "rows == rows2", setup=ROWS + "\nrows2 = [list(row)] * 1000"),
    loop("row-in-rows", BUILTIN, "[1] in rows", setup=ROWS),
    loop("rows-count", BUILTIN, "rows.count(row)", setup=ROWS),
    loop("sum-big-ints", BUILTIN, "sum([big] * 2000)", setup=BIG),
    loop("isinstance-huge-tuple", BUILTIN, "isinstance(1, types)",
         setup="types = (int,) * 500000"),
    loop("startswith-many-prefixes", BUILTIN, "t.startswith(prefixes)",
         setup="t = 'x' * 10000\nprefixes = (t[1:],) * 1000"),
    loop("in-lazy-map", BUILTIN, "-1 in map(abs, items)", setup="items = list(range(100000))"),
    loop("json-loads-1mb", BUILTIN, "json.loads(t)", setup="t = '\"' + 'x' * 700000 + '\"'"),
    loop("slice-copy", BUILTIN, "t[1:]", setup="t = 'x' * 1000000"),
    loop("list-insert-front", BUILTIN, "items.insert(0, 1)", setup="items = [0] * 900000"),
    # -- memory: allocation is charged, sizes are capped ------------------------------------
    loop("keep-negated-big-ints", MEMORY, "kept.append(-big)", setup=BIG + "\nkept = []"),
    loop("keep-big-strings", MEMORY, "kept.append(t * 2)",
         setup="t = 'x' * 500000\nkept = []"),
    loop("keep-lists", MEMORY, "kept.append([0] * 100000)", setup="kept = []"),
    loop("keep-split-words", MEMORY, "kept.append(t.split())",
         setup="t = 'ab ' * 330000\nkept = []"),
    loop("keep-split-chars", MEMORY, "kept.append(t.split('a'))", LIMIT,
         setup="t = 'a' * 1000000\nkept = []"),
    loop("keep-rsplit-pairs", MEMORY, "kept.append(t.rsplit('c'))",
         setup="t = 'abc' * 330000\nkept = []"),
    loop("keep-splitlines", MEMORY, "kept.append(t.splitlines())",
         setup="t = 'a\\n' * 500000\nkept = []"),
    loop("keep-list-of-chars", MEMORY, "kept.append(list(t))",
         setup="t = 'ab' * 500000\nkept = []"),
    loop("keep-partitions", MEMORY, "kept.append([t.partition('b') for i in range(1000)])",
         setup="t = 'a' * 1000 + 'b'\nkept = []"),
    loop("keep-hex", MEMORY, "kept.append(b.hex())",
         setup="b = ('x' * 400000).encode()\nkept = []"),
    loop("keep-dict-items", MEMORY, "kept.append(list(d.items()))",
         setup="d = {str(i): i for i in range(20000)}\nkept = []"),
    loop("keep-enumerate", MEMORY, "kept.append(list(enumerate(items)))",
         setup="items = [0] * 500000\nkept = []"),
    loop("keep-zip", MEMORY, "kept.append(list(zip(items, items)))",
         setup="items = [0] * 500000\nkept = []"),
    loop("keep-divmod-pairs", MEMORY, "kept.append([divmod(i, 7) for i in items])",
         setup="items = list(range(1000))\nkept = []"),
    loop("keep-json-loads", MEMORY, "kept.append(json.loads(t))",
         setup="t = '[' + ','.join(['[]'] * 200000) + ']'\nkept = []"),
    loop("keep-ctx-range", MEMORY, "kept.append(ctx.range('', None, 1000))",
         setup="kept = []"),
    loop("keep-ctx-get", MEMORY, "kept.append(ctx.get('big'))", setup="kept = []"),
    loop("format-escapes", BUILTIN, "f'{t!r}'", setup="t = '\\x00' * 200000"),
    loop("format-ascii", BUILTIN, "f'{t!a}'", setup="t = 'é' * 200000"),
    loop("str-rows", BUILTIN, "str(rows)", setup="row = list(range(1000)); rows = [row] * 100"),
    loop("dict-copy", BUILTIN, "d.copy()", setup="d = {str(i): i for i in range(30000)}"),
    loop("dict-equal", BUILTIN, "d == e",
         setup="d = {str(i): i for i in range(30000)}\ne = d.copy()"),
    loop("star-unpack", BUILTIN, "[*rows]", setup=ROWS),
    loop("sorted-strings", BUILTIN, "sorted(words)",
         setup="words = [('x' * 100) + str(i) for i in range(20000)]"),
    loop("keep-list-displays", MEMORY, "kept.append(" + "[" + "0, " * 18000 + "])",
         setup="kept = []"),
    loop("keep-dict-displays", MEMORY,
         "kept.append({" + "".join(f"'k{i}': 1, " for i in range(6000)) + "})",
         setup="kept = []"),
    loop("keep-tuple-displays", MEMORY, "kept.append((" + "n, " * 9000 + "))",
         setup="n = 1\nkept = []"),
    body("huge-string", MEMORY, "return len('x' * 10 ** 7)", LIMIT),
    body("huge-range", MEMORY, "return len(range(10 ** 9))", LIMIT),
    body("huge-list", MEMORY, "return len([0] * 10 ** 7)", LIMIT),
    body("huge-shift", MEMORY, "return (1 << 10 ** 6) & 1", LIMIT),
    body("huge-power", MEMORY, "return 10 ** 100000 % 7", LIMIT),
    body("huge-int-parse", MEMORY, "return int('f' * 1000000, 16) & 1", LIMIT),
    body("doubling-string", MEMORY, "t = 'x'\nwhile True:\n    t = t + t", LIMIT),
    body("doubling-list", MEMORY, "t = [0]\nwhile True:\n    t = t + t", LIMIT),
    body("doubling-slice-assign", MEMORY, "t = [0]\nwhile True:\n    t[len(t):] = t", LIMIT),
    body("catch-limit-and-go-on", MEMORY,
         "try:\n    t = 'x' * 10 ** 8\nexcept Exception:\n    pass\nreturn 1", LIMIT),
    body("json-dumps-shared-rows", MEMORY, "return len(json.dumps([[1] * 1000] * 2000))",
         GAS),
    # -- nondeterminism is refused by construction ------------------------------------------
    module("from-math-import-exposed", NONDET, """
        from math import EXPOSED
        @write
        def main(ctx):
            return sorted(EXPOSED)
    """, REJECTED),
    module("from-math-import-pi", NONDET, """
        from math import pi
        @write
        def main(ctx):
            return 1
    """, REJECTED),
    module("from-json-import-name", NONDET, """
        from json import name
        @write
        def main(ctx):
            return name
    """, REJECTED),
    module("from-math-import-gcd-ok", NONDET, """
        from math import gcd
        @write
        def main(ctx):
            return gcd(12, 18)
    """, OK),
    body("module-attr-exposed", NONDET, "return list(math.EXPOSED)", VIOLATION),
    body("fstring-5000-digits", NONDET, "return len(f'{10 ** 5000}')", OK),
    body("repr-list-of-5000-digits", NONDET, "return len(f'{[10 ** 5000, -7]!r}')", OK),
    body("int-parse-5000-digits-value", NONDET, "return int('7' * 5000) % 1000003", OK),
    body("error-message-big-int", NONDET, "raise ValueError(10 ** 5000)", ERROR),
    body("float-literal", NONDET, "return int(1.5)", REJECTED),
    body("float-exponent-literal", NONDET, "return int(1e308)", REJECTED),
    body("complex-literal", NONDET, "return 1j", REJECTED),
    body("true-division", NONDET, "return int(7 / 2)", REJECTED),
    body("true-division-augmented", NONDET, "x = 7\nx /= 2\nreturn x", REJECTED),
    body("negative-power", NONDET, "n = -1\nreturn int(2 ** n)", VIOLATION),
    body("set-literal", NONDET, "return sorted({'a', 'b'})", REJECTED),
    body("dict-view-set", NONDET, "d = {'a': 1}\nreturn list(d.keys() - {}.keys())",
         VIOLATION),
    body("hash-builtin", NONDET, "return hash('a')", ERROR),
    body("id-builtin", NONDET, "return id(ctx)", ERROR),
    body("format-address", NONDET, "return f'{ctx}'", VIOLATION),
    body("format-function", NONDET, "return str(main)", VIOLATION),
    # -- escapes (none worked before either: kept so they never do) -------------------------
    body("class-attribute", ESCAPE, "return ().__class__", REJECTED),
    body("getattr-dunder", ESCAPE, "return getattr(1, '__cl' + 'ass__')", VIOLATION),
    body("getattr-meter", ESCAPE, "return getattr(ctx, '_me' + 'ter')", VIOLATION),
    body("ctx-writes", ESCAPE, "return getattr(ctx, 'writes')", VIOLATION),
    body("exception-traceback", ESCAPE,
         "try:\n    1 // 0\nexcept Exception as e:\n    return getattr(e, 'with_traceback')",
         VIOLATION),
    body("import-os", ESCAPE, "import os\nreturn 1", REJECTED),
    body("dunder-import", ESCAPE, "return __import__('os')", REJECTED),
    body("open-file", ESCAPE, "return open('/etc/passwd')", ERROR),
    body("eval", ESCAPE, "return eval('1')", REJECTED),
    body("type-builtin", ESCAPE, "return type(1)", ERROR),
    body("global-statement", ESCAPE, "global x\nx = 1", REJECTED),
    module("class-definition", ESCAPE, """
        class A:
            pass
        @write
        def main(ctx):
            return 1
    """, REJECTED),
    module("generator", ESCAPE, """
        def g():
            yield 1
        @write
        def main(ctx):
            return 1
    """, REJECTED),
    body("with-statement", ESCAPE, "with ctx:\n    pass", REJECTED),
    body("print", ESCAPE, "print(1)", REJECTED),
    body("format-spec-padding", ESCAPE, "return f'{1:>100000000}'", REJECTED),
    body("percent-format", ESCAPE, "return '%s' % 'x'", VIOLATION),
    module("read-function-writes", ESCAPE, """
        @read
        def main(ctx):
            ctx.put('k', 1)
    """, READ_ONLY),
    body("module-globals-attr", ESCAPE, "return getattr(json, 'dumps').__globals__", REJECTED),
    body("caller-dict", ESCAPE, "return getattr(ctx.caller, '__dict__')", VIOLATION),
    # -- install: compiling and the module body are charged like calls ----------------------
    Case("module-body-spins", INSTALL, "x = 0\nwhile True:\n    x = x + 1\n", REJECTED),
    Case("module-body-allocates", INSTALL, "x = 'x' * 10 ** 8\n", REJECTED),
    Case("module-body-deep-map", INSTALL,
         "it = [1]\nfor i in range(66000):\n    it = map(abs, it)\n", REJECTED),
    Case("big-source-ok", INSTALL, "T = [\n" + "    'abcdefghij',\n" * 7000
         + "]\n@write\ndef main(ctx):\n    return len(T)\n", OK),
    Case("many-nodes-ok", INSTALL, "@write\ndef main(ctx):\n    a = [1]\n"
         + "    a[0] = a[0] + a[-1]\n" * 950, OK),
    Case("many-calls-ok", INSTALL, "@write\ndef main(ctx):\n    x = []\n"
         + "    x.append(len(x))\n" * 1800, OK),
    Case("many-fstrings-ok", INSTALL, "@write\ndef main(ctx):\n    a = 1\n"
         + "    b = f'{a}{a}{a}{a}'\n" * 1200, OK),
    Case("too-many-nodes", INSTALL, "@write\ndef main(ctx):\n    a = [1]\n"
         + "    a[0] = a[0] + a[-1]\n" * 2500, REJECTED),
]


class DictReader:
    """Committed state for the corpus: a few keys, two of them 60 KB values."""

    def __init__(self) -> None:
        big = json.dumps("v" * 60_000).encode()
        self.data = {b"t/big": big, b"t/big2": big}
        self.data.update({f"t/k{i:05}".encode(): b"1" for i in range(3000)})
        self.keys = sorted(self.data)

    def get(self, key: bytes) -> bytes | None:
        return self.data.get(key)

    def has(self, key: bytes) -> bool:
        return key in self.data

    def range(self, start: bytes, end: bytes, limit: int,
              max_bytes: int | None = None) -> list[tuple[bytes, bytes]]:
        rows = []
        total = 0
        for key in self.keys[bisect.bisect_left(self.keys, start):]:
            if key >= end or len(rows) >= limit:
                break
            rows.append((key, self.data[key]))
            total += len(self.data[key])
            if max_bytes is not None and total > max_bytes:
                break
        return rows


@dataclass(frozen=True)
class Outcome:
    code: int
    message: str
    steps: int
    result: Any = None


def run_case(case: Case, *, limit: int = DEFAULT_STEP_LIMIT) -> Outcome:
    """Compile and call ``case`` like the host does; never raises for a LedgerError."""
    # Install cases count what an install transaction is charged for compiling.
    install = compile_steps(case.source) if case.kind == INSTALL else 0
    try:
        compiled = compile_chaincode(case.source, name=case.name)
    except LedgerError as err:
        return Outcome(int(err.code), err.message, install)
    if case.kind == INSTALL:
        return Outcome(OK, "", install + compiled.load_steps)
    meter = Meter(limit)
    writable = compiled.exports.get(case.function) == "write"
    ctx = Context(chaincode="t", reader=DictReader(), caller=Caller(public_key="ab" * 32),
                  block_height=7, block_time=123, tx_hash="00", meter=meter,
                  writable=writable)
    try:
        result, steps = invoke(compiled, case.function, [], ctx, meter=meter)
    except LedgerError as err:
        return Outcome(int(err.code), err.message, meter.steps)
    return Outcome(OK, "", steps, result)


def digest() -> dict[str, str]:
    """Outcome digest of the whole corpus and the app hash of a chain that ran part of it."""
    import tempfile
    from pathlib import Path

    from ledger.testing import start_chain

    outcomes = hashlib.sha256()
    for case in CASES:
        out = run_case(case)
        outcomes.update(json.dumps([case.name, out.code, out.message, out.steps,
                                    repr(out.result)]).encode())
    # A chain: install the corpus cases that load as one chaincode each, call them in
    # one block, and report the app hash (results, gas and writes are all in it).
    with tempfile.TemporaryDirectory() as tmp:
        chain = start_chain(Path(tmp))
        installs = []
        names = []
        for i, case in enumerate(CASES):
            if case.kind in (INSTALL,) or case.expect == REJECTED:
                continue
            name = f"c{i}"
            names.append(name)
            installs.append(chain.tx("admin1", "_lifecycle", "install", [name, "1",
                                                                         case.source]))
        chain.block(*installs[:40])
        chain.block(*installs[40:80])
        chain.block(*installs[80:])
        results = []
        for start in range(0, len(names), 40):
            block = chain.block(*[chain.tx("admin1", name, "main") for name in
                                  names[start:start + 40]])
            results += [(r.code, r.log, r.gas_used, r.data.hex()) for r in block.tx_results]
        app_hash = chain.app.store.app_hash.hex()
        chain.app.close()
    outcomes.update(json.dumps(results).encode())
    return {"outcomes": outcomes.hexdigest(), "app_hash": app_hash}


if __name__ == "__main__":
    print(json.dumps(digest()))
