"""JSON Schema validation of function arguments, with regular expressions that run in
linear time.

A template's argument schemas are written by tenants (private bundles) and checked on the
platform's web workers for every call. Python's ``re`` backtracks: a pattern such as
``(a+)+$`` takes exponential time on a short input and would stall a worker. JSON Schema
recommends a portable subset of regular expressions; RE2 (``google-re2``, the library made
for untrusted patterns) runs every pattern it accepts in time linear in the input, and
refuses what needs backtracking (backreferences, lookaround). So ``pattern`` and
``patternProperties`` go through RE2 here, and validation refuses patterns RE2 cannot
compile.

References are refused too (``$ref``, ``$dynamicRef``): jsonschema follows a remote one
with ``urlopen`` (the web worker would fetch any URL, or read a file), and a local one can
refer to itself. An args schema is one self-contained document, nested at most
``MAX_SCHEMA_DEPTH`` deep; validators are built with an empty registry all the same.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from typing import Any

from jsonschema import Draft202012Validator, ValidationError, validators

MAX_PATTERN_CHARS = 256
MAX_SCHEMA_DEPTH = 16
REFERENCE_KEYWORDS = frozenset({"$ref", "$dynamicRef", "$recursiveRef"})


class ArgsUnusable(Exception):
    """The schema itself cannot be applied (a reference, a recursion): the template's
    fault, refused at upload; met at call time only for templates validated before."""


def schema_problem(schema: Any) -> str:
    """Why an args schema cannot be used ("" when it can): references, nesting, patterns."""
    stack: list[tuple[Any, int]] = [(schema, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_SCHEMA_DEPTH:
            return f"is nested deeper than {MAX_SCHEMA_DEPTH} levels"
        if isinstance(node, dict):
            refs = REFERENCE_KEYWORDS & set(node)
            if refs:
                return f"uses {sorted(refs)[0]}: an args schema must be self-contained"
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)
    for pattern in patterns_in(schema):
        why = pattern_problem(pattern)
        if why:
            return f"has a pattern {pattern[:60]!r} that {why}"
    return ""


@lru_cache(maxsize=512)
def compiled(pattern: str) -> Any:
    import re2

    options = re2.Options()
    options.log_errors = False
    return re2.compile(pattern, options)


def pattern_problem(pattern: str) -> str:
    """Why ``pattern`` cannot be used in an argument schema ("" when it can)."""
    if len(pattern) > MAX_PATTERN_CHARS:
        return f"is longer than {MAX_PATTERN_CHARS} characters"
    try:
        compiled(pattern)
    except Exception as exc:  # re2.error: what it cannot run in linear time, or bad syntax
        reason = str(exc.args[0] if exc.args else exc)
        if isinstance(exc.args[0] if exc.args else None, bytes):
            reason = exc.args[0].decode("utf-8", "replace")
        return f"is not supported (RE2 syntax, no backreferences or lookaround): {reason}"
    return ""


def _pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Iterator[Any]:
    if not validator.is_type(instance, "string"):
        return
    if pattern_problem(pattern):
        yield ValidationError(f"the schema's pattern {pattern[:60]!r} cannot be used")
    elif compiled(pattern).search(instance) is None:
        yield ValidationError(f"{instance[:80]!r} does not match {pattern[:80]!r}")


def _pattern_properties(validator: Any, patterns: dict[str, Any], instance: Any,
                        schema: Any) -> Iterator[Any]:
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in patterns.items():
        if pattern_problem(pattern):
            yield ValidationError(f"the schema's pattern {pattern[:60]!r} cannot be used")
            continue
        for key, value in instance.items():
            if compiled(pattern).search(key) is not None:
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)


def _unique_items(validator: Any, unique: bool, instance: Any, schema: Any) -> Iterator[Any]:
    """jsonschema compares items pairwise when they cannot be sorted (O(n^2): minutes for a
    few thousand); here each item's canonical encoding goes into a set, in linear time.
    Encoded with booleans apart from numbers, as JSON Schema wants (1 and true differ)."""
    import json

    if not unique or not validator.is_type(instance, "array"):
        return
    seen: set[str] = set()
    for item in instance:
        key = json.dumps(item, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                         default=str)
        if key in seen:
            yield ValidationError(f"{instance[:3]!r}... has non-unique elements")
            return
        seen.add(key)


ArgsValidator = validators.extend(Draft202012Validator, {
    "pattern": _pattern, "patternProperties": _pattern_properties,
    "uniqueItems": _unique_items})


def args_errors(schema: Any, args: Any) -> list[Any]:
    """The validation errors of ``args`` (sorted by path); ``ArgsUnusable`` when the schema
    cannot be applied. Nothing is ever fetched: the registry is empty."""
    from referencing import Registry

    why = schema_problem(schema)
    if why:
        raise ArgsUnusable(why)
    try:
        validator = ArgsValidator(schema, registry=Registry())
        return sorted(validator.iter_errors(args), key=lambda e: list(e.absolute_path))
    except RecursionError:
        raise ArgsUnusable("is too deeply nested to apply") from None
    except Exception as exc:  # noqa: BLE001 -- a referencing error and the like
        raise ArgsUnusable(f"cannot be applied: {type(exc).__name__}") from None


def patterns_in(schema: Any) -> list[str]:
    """Every regular expression in a schema: ``pattern`` values, ``patternProperties`` keys."""
    found: list[str] = []
    stack = [schema]
    while stack:
        node = stack.pop()
        if len(found) > 1000:
            break
        if isinstance(node, dict):
            if isinstance(node.get("pattern"), str):
                found.append(node["pattern"])
            if isinstance(node.get("patternProperties"), dict):
                found.extend(k for k in node["patternProperties"] if isinstance(k, str))
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found
