"""Run-time half of the sandbox: the step meter, guards and the chaincode's builtins.

Everything the chaincode can reach is listed here. Anything not listed (files, clocks,
randomness, ``id``/``hash``, ``type``, ``vars``, modules) simply does not exist in its globals.

Failure semantics: a guard that trips records a *fatal* error on the meter before raising.
Chaincode may catch the exception, but the meter keeps refusing further steps and the host
fails the transaction with the recorded error regardless of what the code returns, so a
``try/except`` cannot turn an exhausted budget into a success.
"""

from __future__ import annotations

import hashlib
import math
import operator
from collections.abc import Callable
from typing import Any

from RestrictedPython.Guards import guarded_iter_unpack_sequence, guarded_unpack_sequence

from ledger import canonical
from ledger.errors import Code, SandboxError

DEFAULT_STEP_LIMIT = 200_000
MAX_CALL_DEPTH = 64
MAX_SEQUENCE = 1_000_000  # elements or characters in one object
MAX_INT_BITS = 65_536
ALLOC_UNIT = 16  # one step per this many elements/characters/64-bit words allocated
MAX_FORMAT_DEPTH = 32


class Meter:
    """Counts deterministic execution steps and call depth for one invocation."""

    __slots__ = ("limit", "steps", "depth", "fatal")

    def __init__(self, limit: int = DEFAULT_STEP_LIMIT) -> None:
        self.limit = limit
        self.steps = 0
        self.depth = 0
        self.fatal: SandboxError | None = None

    def trip(self, code: Code, message: str) -> SandboxError:
        if self.fatal is None:
            self.fatal = SandboxError(code, message)
        return SandboxError(self.fatal.code, self.fatal.message)

    def step(self, n: int = 1) -> None:
        if self.fatal is not None:
            raise SandboxError(self.fatal.code, self.fatal.message)
        self.steps += n
        if self.steps > self.limit:
            self.steps = self.limit
            raise self.trip(Code.OUT_OF_GAS, f"execution budget of {self.limit} steps exhausted")

    def charge_size(self, size: int) -> None:
        if size > MAX_SEQUENCE:
            raise self.trip(Code.RESOURCE_LIMIT,
                            f"object of {size} elements exceeds the limit of {MAX_SEQUENCE}")
        self.step(1 + size // ALLOC_UNIT)

    def violation(self, message: str) -> SandboxError:
        return self.trip(Code.SANDBOX_VIOLATION, message)


class Exposed:
    """Base for host objects chaincode may use; only names in EXPOSED are reachable."""

    EXPOSED: frozenset[str] = frozenset()


class ContractError(Exception):
    """Raised by chaincode to fail a transaction with its own message."""


class HostModule(Exposed):
    """An allow-listed 'module' of pure functions (what ``import math`` returns)."""

    def __init__(self, name: str, functions: dict[str, Callable[..., Any]]) -> None:
        self.name = name
        self.EXPOSED = frozenset(functions)
        for key, fn in functions.items():
            setattr(self, key, fn)


SEQUENCES = (str, bytes, list, tuple)
SIZED = (str, bytes, list, tuple, dict, range)
# Methods whose run time grows faster than their input (sorting).
SUPERLINEAR = frozenset({"sort"})

STR_METHODS = frozenset({
    "lower", "upper", "strip", "lstrip", "rstrip", "split", "rsplit", "splitlines",
    "startswith", "endswith", "find", "rfind", "index", "rindex", "count", "isdigit",
    "isalpha", "isalnum", "islower", "isupper", "isspace", "isdecimal", "title",
    "capitalize", "casefold", "partition", "rpartition", "encode", "removeprefix",
    "removesuffix", "join", "replace",
})
SAFE_METHODS: dict[type, frozenset[str]] = {
    str: STR_METHODS,
    bytes: frozenset({"hex", "decode", "startswith", "endswith", "count", "find"}),
    list: frozenset({"append", "extend", "insert", "pop", "remove", "index", "count",
                     "sort", "reverse", "copy", "clear"}),
    dict: frozenset({"get", "keys", "values", "items", "pop", "setdefault", "update", "copy",
                     "clear", "popitem"}),
    tuple: frozenset({"index", "count"}),
    int: frozenset({"bit_length"}),
}
EXCEPTION_ATTRS = frozenset({"args"})


def _fmt_cost(value: Any, budget: list[int], depth: int = 0) -> bool:
    """True if str(value) is the same on every node (no memory addresses, no hash order).

    ``budget[0]`` counts visited elements down; running out (huge nested values) is False.
    """
    budget[0] -= 1
    if depth > MAX_FORMAT_DEPTH or budget[0] < 0:
        return False
    if value is None or isinstance(value, (str, int, float, bool, bytes)):
        return True
    if isinstance(value, (list, tuple)):
        return all(_fmt_cost(v, budget, depth + 1) for v in value)
    if isinstance(value, dict):
        return all(_fmt_cost(k, budget, depth + 1) and _fmt_cost(v, budget, depth + 1)
                   for k, v in value.items())
    if isinstance(value, BaseException):
        return all(_fmt_cost(a, budget, depth + 1) for a in value.args)
    return False


def _size(value: Any) -> int:
    """Elements/characters C code may walk for ``value`` (0 for non-containers)."""
    return len(value) if isinstance(value, SIZED) else 0


def make_globals(
    meter: Meter, *, read: Callable[..., Any], write: Callable[..., Any]
) -> dict[str, Any]:
    """Fresh globals for one module execution, every helper bound to ``meter``."""
    step = meter.step
    charge = meter.charge_size

    def work(n: int) -> None:
        """Charge C-level work over n elements (no size limit: nothing is allocated)."""
        step(1 + n // ALLOC_UNIT)

    def charged(fn: Callable[..., Any], base: int = 0, factor: int = 1) -> Callable[..., Any]:
        """Wrap a C function so each call pays for the sizes of its receiver and args."""
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            work(factor * (base + sum(_size(a) for a in args)
                           + sum(_size(v) for v in kwargs.values())))
            return fn(*args, **kwargs)
        return wrapper

    def sized_value(value: Any) -> Any:
        """Starred unpacking and comparisons: pay for the container walked in C."""
        if isinstance(value, SIZED):
            work(len(value))
        return value

    def contains_value(value: Any) -> Any:
        """Right side of `in`: a scan for sequences, a hash lookup for dicts."""
        if isinstance(value, SEQUENCES):
            work(len(value))
        return value

    def stept() -> bool:
        step()
        return True

    def call(fn: Any) -> Any:
        step()
        return fn

    def enter() -> None:
        meter.depth += 1
        if meter.depth > MAX_CALL_DEPTH:
            raise meter.trip(Code.RESOURCE_LIMIT,
                             f"call depth limit of {MAX_CALL_DEPTH} exceeded")
        step()

    def leave(*values: Any) -> Any:
        meter.depth -= 1
        return values[-1] if values else None

    def int_bits(bits: int) -> None:
        if bits > MAX_INT_BITS:
            raise meter.trip(Code.RESOURCE_LIMIT,
                             f"integer of about {bits} bits exceeds the limit of {MAX_INT_BITS}")
        step(1 + bits // (ALLOC_UNIT * 64))

    def binop(op: str, a: Any, b: Any) -> Any:
        ints = isinstance(a, int) and isinstance(b, int)
        if op == "+":
            result = a + b
            if isinstance(result, SEQUENCES):
                charge(len(result))
            return result
        if op == "*":
            if ints:
                int_bits(a.bit_length() + b.bit_length())
            elif isinstance(a, SEQUENCES) and isinstance(b, int):
                charge(len(a) * max(b, 0))
            elif isinstance(b, SEQUENCES) and isinstance(a, int):
                charge(len(b) * max(a, 0))
            return a * b
        if op == "**":
            if ints and b > 0 and abs(a) > 1:
                int_bits(a.bit_length() * b)
            return a**b
        if op == "<<":
            if ints and b > 0:
                int_bits(a.bit_length() + b)
            return a << b
        if op == "%":
            if isinstance(a, (str, bytes)):
                raise meter.violation("%-formatting of strings is not allowed (use f-strings)")
            return a % b
        raise meter.violation(f"operator {op} is not allowed")  # pragma: no cover

    inplace_ops: dict[str, Callable[[Any, Any], Any]] = {
        "-=": operator.sub, "/=": operator.truediv, "//=": operator.floordiv,
        ">>=": operator.rshift, "&=": operator.and_, "|=": operator.or_, "^=": operator.xor,
        "@=": operator.matmul,
    }

    def inplacevar(op: str, x: Any, y: Any) -> Any:
        if op in ("+=", "*=", "**=", "<<=", "%="):
            return binop(op[:-1], x, y)
        return inplace_ops[op](x, y)

    def fmt(value: Any) -> Any:
        budget = [MAX_SEQUENCE]
        if not _fmt_cost(value, budget):
            if budget[0] < 0:
                raise meter.trip(Code.RESOURCE_LIMIT, "value is too large to format")
            raise meter.violation(f"cannot format a {type(value).__name__} value")
        work(MAX_SEQUENCE - budget[0])
        return value

    def safe_str(value: Any = "") -> str:
        fmt(value)
        result = str(value)
        charge(len(result))
        return result

    def guarded_join(sep: str) -> Callable[[Any], str]:
        def join(items: Any) -> str:
            items = list(items)
            charge(len(items))
            total = sum(len(i) for i in items if isinstance(i, str)) + len(sep) * len(items)
            charge(total)
            return sep.join(items)
        return join

    def guarded_replace(s: str) -> Callable[..., str]:
        def replace(old: str, new: str, count: int = -1) -> str:
            occurrences = len(s) + 1 if old == "" else s.count(old)
            if count >= 0:
                occurrences = min(occurrences, count)
            charge(len(s) + occurrences * max(len(new) - len(old), 0))
            return s.replace(old, new, count)
        return replace

    def sized(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
        """list/tuple/dict.copy style: charge for the size of the result."""
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            result = fn(*args, **kwargs)
            charge(len(result))
            return result
        return wrapper

    def guarded_extend(target: list[Any]) -> Callable[[Any], None]:
        def extend(items: Any) -> None:
            items = list(items)
            charge(len(target) + len(items))
            target.extend(items)
        return extend

    def guarded_update(target: dict[Any, Any]) -> Callable[..., None]:
        def update(*args: Any, **kwargs: Any) -> None:
            other = dict(*args, **kwargs)
            charge(len(target) + len(other))
            target.update(other)
        return update

    def getattr_(obj: Any, name: Any, *default: Any) -> Any:
        if not isinstance(name, str):
            raise meter.violation("attribute names must be strings")
        if name.startswith("_"):
            raise meter.violation(f"attribute {name!r} is not accessible")
        kind = type(obj)
        allowed = SAFE_METHODS.get(kind)
        if allowed is not None and name in allowed:
            if kind is str and name == "join":
                return guarded_join(obj)
            if kind is str and name == "replace":
                return guarded_replace(obj)
            if kind is list and name == "extend":
                return guarded_extend(obj)
            if kind is dict and name == "update":
                return guarded_update(obj)
            if name == "copy":
                return sized(getattr(obj, name))
            if kind is int:
                return getattr(obj, name)
            return charged(getattr(obj, name), base=len(obj),
                           factor=8 if name in SUPERLINEAR else 1)
        if isinstance(obj, Exposed) and name in obj.EXPOSED:
            return getattr(obj, name)
        if isinstance(obj, BaseException) and name in EXCEPTION_ATTRS:
            return getattr(obj, name)
        raise meter.violation(f"attribute {name!r} of {kind.__name__} is not accessible")

    def getitem(obj: Any, key: Any) -> Any:
        if isinstance(obj, (dict, list, tuple, str, bytes, range)):
            if isinstance(key, slice):
                work(len(obj))
            return obj[key]
        raise meter.violation(f"{type(obj).__name__} is not subscriptable here")

    def write_(obj: Any) -> Any:
        if type(obj) in (dict, list):
            return obj
        raise meter.violation(f"cannot assign to attributes or items of {type(obj).__name__}")

    def getiter(obj: Any) -> Any:
        return iter(obj)

    def apply(fn: Any, *args: Any, **kwargs: Any) -> Any:
        work(len(args) + len(kwargs))
        return fn(*args, **kwargs)

    def safe_range(*args: int) -> range:
        result = range(*args)
        charge(len(result))
        return result

    def safe_getattr(obj: Any, name: Any, *default: Any) -> Any:
        return getattr_(obj, name)

    def safe_round(number: Any, ndigits: int | None = None) -> Any:
        # round(5, -10**9) would compute 10**(10**9) inside CPython
        if ndigits is not None and (not isinstance(ndigits, int) or abs(ndigits) > 64):
            raise meter.violation("round() ndigits must be an integer in -64..64")
        return round(number) if ndigits is None else round(number, ndigits)

    type_aliases: dict[Any, Any] = {}

    def safe_isinstance(obj: Any, types: Any) -> bool:
        if isinstance(types, tuple):
            types = tuple(type_aliases.get(t, t) for t in types)
        else:
            types = type_aliases.get(types, types)
        return isinstance(obj, types)

    safe_sorted_impl = charged(sorted, factor=8)
    safe_list = sized(list)
    safe_tuple = sized(tuple)
    safe_dict = sized(dict)
    safe_sorted = sized(safe_sorted_impl)
    type_aliases.update({safe_list: list, safe_tuple: tuple, safe_dict: dict, safe_str: str})

    def safe_import(name: str, globals_: Any = None, locals_: Any = None,
                    fromlist: Any = (), level: int = 0) -> HostModule:
        functions = HOST_MODULES.get(name)
        if functions is None or level:
            raise meter.violation(f"import of {name!r} is not allowed")
        wrapped = {k: charged(fn) for k, fn in functions.items()}
        if name == "json":  # output size is what dumps walks: pay for it too
            wrapped["dumps"] = sized(wrapped["dumps"])
        return HostModule(name, wrapped)

    builtins: dict[str, Any] = {
        "abs": abs, "bool": bool, "chr": chr, "divmod": divmod, "int": int, "len": len,
        "ord": ord, "round": safe_round,
        # builtins that walk an iterable in C pay for its size up front
        "all": charged(all), "any": charged(any), "enumerate": charged(enumerate),
        "filter": charged(filter), "map": charged(map), "max": charged(max),
        "min": charged(min), "reversed": charged(reversed), "sum": charged(sum),
        "zip": charged(zip),
        "str": safe_str, "list": safe_list, "tuple": safe_tuple, "dict": safe_dict,
        "sorted": safe_sorted, "range": safe_range, "isinstance": safe_isinstance,
        "getattr": safe_getattr, "__import__": safe_import,
        "Exception": Exception, "ValueError": ValueError, "KeyError": KeyError,
        "IndexError": IndexError, "TypeError": TypeError, "LookupError": LookupError,
        "ArithmeticError": ArithmeticError, "ZeroDivisionError": ZeroDivisionError,
        "AssertionError": AssertionError, "ContractError": ContractError,
        "None": None, "True": True, "False": False,
    }
    return {
        "__builtins__": builtins,
        "__name__": "chaincode",
        "read": read,
        "write": write,
        "_step_": step,
        "_stept_": stept,
        "_call_": call,
        "_enter_": enter,
        "_leave_": leave,
        "_binop_": binop,
        "_fmt_": fmt,
        "_sized_": sized_value,
        "_contains_": contains_value,
        "_inplacevar_": inplacevar,
        "_getattr_": getattr_,
        "_getitem_": getitem,
        "_write_": write_,
        "_getiter_": getiter,
        "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
        "_unpack_sequence_": guarded_unpack_sequence,
        "_apply_": apply,
    }


def _json_dumps(value: Any) -> str:
    return canonical.encode(value).decode("utf-8")


def _json_loads(text: str) -> Any:
    if not isinstance(text, str) or len(text) > MAX_SEQUENCE:
        raise ValueError("json.loads takes a string of at most 1,000,000 characters")
    return canonical.decode(text.encode("utf-8"))


def _sha256(data: str | bytes) -> str:
    if isinstance(data, str):
        data = data.encode("utf-8")
    if not isinstance(data, bytes):
        raise TypeError("sha256 takes str or bytes")
    return hashlib.sha256(data).hexdigest()


def _isqrt(n: int) -> int:
    return math.isqrt(n)


# Integer-only maths: transcendental float functions come from the platform's libm and can
# differ in the last bit between machines, so they are left out on purpose.
HOST_MODULES: dict[str, dict[str, Callable[..., Any]]] = {
    "math": {"gcd": math.gcd, "isqrt": _isqrt, "floor": math.floor, "ceil": math.ceil},
    "json": {"dumps": _json_dumps, "loads": _json_loads},
    "hashing": {"sha256": _sha256},
}
