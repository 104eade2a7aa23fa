"""How much work C code may do on a chaincode value: the sandbox's deterministic cost model.

Comparing, hashing, summing, sorting, formatting or JSON-encoding a value touches every
element *nested* in it, not only the outer ones: ``max([row] * 100_000)`` compares rows of a
thousand elements each. ``weigh`` measures that work as a number of *units* so the meter can
charge for it (``ALLOC_UNIT`` units per step) before the C code runs:

- a value counts 1, plus its characters (``str``/``bytes``), its 64-bit words (``int``) or
  its length (``range``);
- a container counts its elements; a container nested in another one costs ``NEST`` more
  (walking it is Python-level work here and pointer chasing in C);
- shared sub-values count every time they occur (``[row] * n`` weighs ``n`` rows): that is
  what C code walks, and it makes the result depend only on the value, never on memory
  layout or object identity, so every node computes the same number.

The walk stops as soon as the running total exceeds ``cap`` (the caller passes what the
remaining budget can pay for), so weighing a huge or cyclic value costs at most what the
meter will refuse anyway. Flat runs of scalars are measured with C-level iterators.
"""

from __future__ import annotations

from itertools import compress, repeat
from operator import mul, not_, rshift
from typing import Any

NEST = 16  # extra units for a container nested in another one (one step)
MAX_FORMAT_DEPTH = 32
# Containers nested deeper than this are refused by every walk: CPython compares, hashes
# and formats nested values recursively in C, and whether that recursion fails depends on
# the host's stack. Refusing at a fixed depth makes the outcome the same on every node.
MAX_NESTING = 100

_NoneType = type(None)
_DICT_ITEMS = type({}.items())
_DICT_VIEWS = frozenset({type({}.keys()), type({}.values()), _DICT_ITEMS})
_FREE = frozenset({_NoneType, bool, float})  # constant-size scalars: 1 unit
_TEXT = frozenset({str, bytes})
_INT = frozenset({int})
_SCALARS = _FREE | _TEXT | _INT
_FORMATTED = frozenset({list, tuple, dict})  # containers whose str() is deterministic
_WALKED = _FORMATTED | _DICT_VIEWS | {range}  # containers C code looks into
_SMALL_INT = 1 << 63  # integers below this (in absolute value) weigh one unit
_FEW = 8  # containers up to this size are walked with a plain loop


class NotFormattable(Exception):
    """str() of the value would not be the same on every node (addresses, hash order)."""


class TooDeep(Exception):
    """The value nests containers deeper than ``MAX_NESTING``."""


def int_words(value: int) -> int:
    """64-bit words of an integer beyond the first (0 for anything below 2**64)."""
    return value.bit_length() >> 6


def _check_formattable(kinds: Any) -> None:
    for kind in kinds:
        if kind not in _SCALARS and kind not in _FORMATTED and not issubclass(
                kind, BaseException):
            raise NotFormattable


def _bulk(items: Any, nested: list[Any], fmt: bool, text: bool) -> int:
    """Extra units of the scalars in ``items`` (C-level passes); containers go to ``nested``."""
    kinds = set(map(type, items))
    if kinds <= _FREE:
        return 0
    extra = 0
    if text and kinds & _TEXT:
        texts = items if kinds <= _TEXT else compress(
            items, map(_TEXT.__contains__, map(type, items)))
        extra += sum(map(len, texts))
    if int in kinds:
        if kinds == _INT:
            if max(items) < _SMALL_INT and min(items) > -_SMALL_INT:
                return extra  # no integer beyond one word: the common case
            ints: Any = items
        else:
            ints = compress(items, map(_INT.__contains__, map(type, items)))
        words = list(map(rshift, map(int.bit_length, ints), repeat(6)))
        extra += sum(words)
        if fmt:  # decimal conversion is quadratic in the words
            extra += sum(map(rshift, map(mul, words, words), repeat(4)))
    if fmt:
        if not kinds <= _SCALARS:
            _check_formattable(kinds)
            nested.extend(compress(items, map(not_, map(_SCALARS.__contains__,
                                                        map(type, items)))))
    elif kinds & _WALKED:
        nested.extend(compress(items, map(_WALKED.__contains__, map(type, items))))
    return extra


def _few(items: Any, nested: list[Any], fmt: bool, text: bool) -> int:
    """``_bulk`` for a handful of items: a plain loop is cheaper than building sets."""
    extra = 0
    for item in items:
        kind = type(item)
        if kind is int:
            words = item.bit_length() >> 6
            extra += words + ((words * words) >> 4 if fmt else 0)
        elif kind is str or kind is bytes:
            if text:
                extra += len(item)
        elif kind in _FREE:
            pass
        elif fmt:
            _check_formattable((kind,))
            nested.append(item)
        elif kind in _WALKED:
            nested.append(item)
    return extra


def weigh(value: Any, cap: int, *, fmt: bool = False, text: bool = True) -> tuple[int, int]:
    """(units, values) to walk ``value`` deeply; stops early once units exceed ``cap``.

    ``values`` counts the values visited (what a Python-level walk such as the canonical
    JSON check calls itself for). With ``fmt`` the walk also refuses (``NotFormattable``)
    anything whose ``str()`` is not deterministic: only None, bool, int, float, str, bytes,
    list, tuple, dict and exceptions (through their args) nested at most
    ``MAX_FORMAT_DEPTH`` deep are accepted. Other objects (functions, iterators, host
    objects) count 1: C code compares them by identity and never looks inside. Without
    ``text`` characters are not counted (for callers that pay for them otherwise).
    """
    kind = type(value)
    if kind is str or kind is bytes:
        return 1 + (len(value) if text else 0), 1
    if kind is int:
        words = value.bit_length() >> 6
        return 1 + words + ((words * words) >> 4 if fmt else 0), 1
    if kind in _FREE:
        return 1, 1
    if fmt:
        _check_formattable((kind,))
    elif kind not in _WALKED:
        return 1, 1
    units = count = 1
    level = [value]
    nest = 0  # the outermost container pays no nesting surcharge
    depth = 0
    while level:
        if fmt and depth > MAX_FORMAT_DEPTH:
            raise NotFormattable
        if depth > MAX_NESTING:
            raise TooDeep
        nested: list[Any] = []
        for item in level:
            kind = type(item)
            units += nest
            if kind is list or kind is tuple:
                size = len(item)
                units += size + (_few(item, nested, fmt, text) if size <= _FEW
                                 else _bulk(item, nested, fmt, text))
                count += size
            elif kind is dict:
                size = len(item)
                units += 2 * size
                count += 2 * size
                if size <= _FEW:
                    units += (_few(item.keys(), nested, fmt, text)
                              + _few(item.values(), nested, fmt, text))
                else:
                    units += (_bulk(item.keys(), nested, fmt, text)
                              + _bulk(item.values(), nested, fmt, text))
            elif kind is range:
                units += len(item)
            elif kind is _DICT_ITEMS:  # keys and values of the mapping
                mapping = item.mapping
                units += 2 * len(item) + _bulk(mapping.keys(), nested, fmt, text) + _bulk(
                    mapping.values(), nested, fmt, text)
                count += 2 * len(item)
            elif kind in _DICT_VIEWS:
                units += len(item) + _bulk(item, nested, fmt, text)
                count += len(item)
            else:  # an exception (fmt only): str() formats its args
                size = len(item.args)
                units += size + _few(item.args, nested, fmt, text)
                count += size
            if units > cap:
                return units, count
        level = nested
        nest = NEST
        depth += 1
    return units, count


def mul_steps(a: int, b: int) -> int:
    """Steps for a * b, a // b, a % b, divmod (schoolbook: product of the word counts)."""
    return (int_words(a) * int_words(b)) >> 8


def _is_str(value: Any) -> bool:
    return type(value) is str


def json_floor(value: Any, cap: int) -> int:
    """A lower bound of the size in bytes of ``value``'s JSON encoding, without encoding it.

    Every value takes at least one byte, a string its characters plus two quotes, a
    container its brackets and separators. Shared sub-values count every time they occur
    (the encoder writes them every time). Stops as soon as the total exceeds ``cap``, so a
    caller can refuse an oversized value before the encoder builds it.
    """
    total = 0
    level = [value]
    depth = 0
    while level:
        if depth > MAX_NESTING:
            raise TooDeep
        nested: list[Any] = []
        for item in level:
            kind = type(item)
            if kind is str:
                total += len(item) + 2
                continue
            if kind is dict:
                keys = item.keys()
                total += 1 + 2 * len(item) + (sum(map(len, keys)) if all(
                    map(_is_str, keys)) else 0)
                items: Any = item.values()
            elif kind is list or kind is tuple:
                total += 1 + len(item)
                items = item
            else:
                total += 1
                continue
            if len(item) <= _FEW:
                for child in items:
                    ck = type(child)
                    if ck is str:
                        total += len(child) + 1  # + the separator counted above
                    elif ck is list or ck is tuple or ck is dict:
                        nested.append(child)
                        total -= 1  # the child counts itself
            else:
                kinds = set(map(type, items))
                if str in kinds:
                    texts = items if kinds == {str} else compress(
                        items, map(_TEXT.__contains__, map(type, items)))
                    strs = list(texts)
                    total += sum(map(len, strs)) + len(strs)
                if kinds & _FORMATTED:
                    children = list(compress(items, map(_FORMATTED.__contains__,
                                                        map(type, items))))
                    nested.extend(children)
                    total -= len(children)
            if total > cap:
                return total
        level = nested
        depth += 1
    return total
