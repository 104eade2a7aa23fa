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
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from typing import Any

from jsonschema import Draft202012Validator, ValidationError, validators

MAX_PATTERN_CHARS = 256


@lru_cache(maxsize=512)
def _compiled(pattern: str) -> Any:
    import re2

    options = re2.Options()
    options.log_errors = False
    return re2.compile(pattern, options)


def pattern_problem(pattern: str) -> str:
    """Why ``pattern`` cannot be used in an argument schema ("" when it can)."""
    if len(pattern) > MAX_PATTERN_CHARS:
        return f"is longer than {MAX_PATTERN_CHARS} characters"
    try:
        _compiled(pattern)
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
    elif _compiled(pattern).search(instance) is None:
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
            if _compiled(pattern).search(key) is not None:
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)


ArgsValidator = validators.extend(Draft202012Validator, {
    "pattern": _pattern, "patternProperties": _pattern_properties})


def patterns_in(schema: Any) -> list[str]:
    """Every regular expression in a schema: ``pattern`` values, ``patternProperties`` keys."""
    found: list[str] = []
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if isinstance(node.get("pattern"), str):
                found.append(node["pattern"])
            if isinstance(node.get("patternProperties"), dict):
                found.extend(k for k in node["patternProperties"] if isinstance(k, str))
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found
