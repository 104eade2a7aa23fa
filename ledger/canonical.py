"""Canonical JSON: the one byte encoding for transactions, state values and proofs.

Rules (a strict subset of RFC 8785 that needs no number formatting rules):
- values are ``null``, booleans, integers in the signed 64-bit range, strings, arrays and
  objects with string keys; floats, NaN and infinities are refused (they are where
  implementations disagree);
- object keys sorted by code point, no whitespace, UTF-8 without ``\\u`` escapes except the
  ones JSON requires;
- nesting depth is bounded so a hostile payload cannot exhaust the parser.

``decode`` accepts only bytes that ``encode`` would produce, so one value has exactly one
encoding and therefore one hash.
"""

from __future__ import annotations

import json
from typing import Any

INT_MIN = -(2**63)
INT_MAX = 2**63 - 1
DEFAULT_MAX_DEPTH = 16


class CanonicalError(ValueError):
    """The value or bytes are not canonical JSON."""


def check_value(value: Any, *, max_depth: int = DEFAULT_MAX_DEPTH, _depth: int = 0) -> None:
    """Raise CanonicalError unless ``value`` is representable in canonical JSON."""
    if _depth > max_depth:
        raise CanonicalError(f"nesting deeper than {max_depth}")
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, int):
        if not INT_MIN <= value <= INT_MAX:
            raise CanonicalError("integer outside the signed 64-bit range")
        return
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise CanonicalError("string is not valid UTF-8") from exc
        return
    if isinstance(value, (list, tuple)):
        for item in value:
            check_value(item, max_depth=max_depth, _depth=_depth + 1)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise CanonicalError("object keys must be strings")
            check_value(key, max_depth=max_depth, _depth=_depth + 1)
            check_value(item, max_depth=max_depth, _depth=_depth + 1)
        return
    if isinstance(value, float):
        raise CanonicalError("floats are not allowed (use integers or strings)")
    raise CanonicalError(f"type {type(value).__name__} is not allowed")


def encode(value: Any, *, max_depth: int = DEFAULT_MAX_DEPTH) -> bytes:
    check_value(value, max_depth=max_depth)
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def _no_float(text: str) -> Any:
    raise CanonicalError("floats are not allowed")


def _no_constant(text: str) -> Any:
    raise CanonicalError(f"{text} is not allowed")


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise CanonicalError("duplicate object key")
    return result


def decode(data: bytes, *, max_depth: int = DEFAULT_MAX_DEPTH) -> Any:
    """Parse canonical JSON bytes; anything not in canonical form is refused."""
    # Bound depth before json.loads recurses: count brackets outside strings cheaply by
    # refusing inputs whose bracket count alone could exceed the limit.
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CanonicalError("not UTF-8") from exc
    _check_depth(text, max_depth)
    try:
        value = json.loads(
            text, parse_float=_no_float, parse_constant=_no_constant, object_pairs_hook=_pairs
        )
    except CanonicalError:
        raise
    except (ValueError, RecursionError) as exc:
        raise CanonicalError(f"not JSON: {exc}") from exc
    if encode(value, max_depth=max_depth) != data:
        raise CanonicalError("JSON is not in canonical form")
    return value


def _check_depth(text: str, max_depth: int) -> None:
    if text.count("[") + text.count("{") <= max_depth:
        return  # cannot nest deeper than the number of openers: skip the scan
    depth = 0
    in_string = False
    escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > max_depth + 1:
                raise CanonicalError(f"nesting deeper than {max_depth}")
        elif ch in "]}":
            depth -= 1
