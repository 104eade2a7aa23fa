"""Text of chaincode values, the same on every node.

``str()``/``repr()``/``ascii()`` of integers go through CPython's decimal conversion, which
refuses integers beyond ``sys.get_int_max_str_digits()`` digits, a limit the environment
sets (``PYTHONINTMAXSTRDIGITS``, at least 640). The sandbox converts integers beyond
``DIRECT_INT_TEXT_BITS`` itself, in ``INT_TEXT_CHUNK``-digit pieces, so a text never
depends on that setting. The caller has checked (``cost.weigh(fmt=True)``) that the value
is formattable and paid for the work.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# Decimal conversions of integers up to this many bits (606 digits) are done by CPython
# directly: below the smallest limit PYTHONINTMAXSTRDIGITS can set (640 digits). Larger
# ones are converted by the sandbox in chunks, so the result never depends on that setting.
DIRECT_INT_TEXT_BITS = 2000
INT_TEXT_CHUNK = 600  # decimal digits per chunk (< 640)
CONVERSIONS: dict[int, Callable[[Any], str]] = {ord("s"): str, ord("r"): repr, ord("a"): ascii}


def int_text(value: int) -> str:
    """Decimal text of an integer, independent of PYTHONINTMAXSTRDIGITS."""
    if value.bit_length() <= DIRECT_INT_TEXT_BITS:
        return str(value)
    sign = "-" if value < 0 else ""
    value = abs(value)
    unit = 10**INT_TEXT_CHUNK
    chunks = []
    while value:
        value, low = divmod(value, unit)
        chunks.append(low)
    parts = [str(chunks[-1])] + [str(c).zfill(INT_TEXT_CHUNK) for c in reversed(chunks[:-1])]
    return sign + "".join(parts)


def text_int(digits: str, base: int) -> int:
    """int(digits, base) for a long run of digits, independent of PYTHONINTMAXSTRDIGITS.

    ``digits`` is already stripped, without sign or underscores; each chunk is parsed by
    ``int`` itself (so the accepted digits are exactly Python's).
    """
    value = 0
    for start in range(0, len(digits), INT_TEXT_CHUNK):
        chunk = digits[start:start + INT_TEXT_CHUNK]
        value = value * base ** len(chunk) + int(chunk, base)
    return value


def text_of(value: Any, conversion: int = -1) -> str:
    """str()/repr()/ascii() of a formattable value (checked by ``weigh(fmt=True)``), the
    same on every node whatever PYTHONINTMAXSTRDIGITS says."""
    try:
        if conversion in CONVERSIONS:
            return CONVERSIONS[conversion](value)
        return value if type(value) is str else str(value)
    except ValueError:  # an integer beyond the process' conversion limit, somewhere inside
        pass
    if conversion == ord("a"):
        return _repr(value).encode("ascii", "backslashreplace").decode("ascii")
    if conversion == ord("r"):
        return _repr(value)
    return _str(value)


def _str(value: Any) -> str:
    if isinstance(value, BaseException):
        args = value.args
        if not args:
            return ""
        if len(args) == 1:
            return _repr(args[0]) if isinstance(value, KeyError) else _str(args[0])
        return _repr(args)
    if type(value) is int:
        return int_text(value)
    if type(value) in (list, tuple, dict):
        return _repr(value)
    return str(value)


def _repr(value: Any) -> str:
    kind = type(value)
    if kind is int:
        return int_text(value)
    if kind is list:
        return "[" + ", ".join(map(_repr, value)) + "]"
    if kind is tuple:
        inner = ", ".join(map(_repr, value))
        return "(" + inner + ("," if len(value) == 1 else "") + ")"
    if kind is dict:
        return "{" + ", ".join(f"{_repr(k)}: {_repr(v)}" for k, v in value.items()) + "}"
    if isinstance(value, BaseException):
        return f"{kind.__name__}({', '.join(map(_repr, value.args))})"
    return repr(value)
