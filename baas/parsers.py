"""The one JSON parser of the API: bounded nesting, valid Unicode, stable error codes.

Python's ``json`` recurses once per nesting level, so a body of a few thousand ``[`` made
every JSON endpoint (sign-up and login included) fail with a ``RecursionError`` and a 500.
This parser counts the depth before parsing and refuses anything deeper than
``MAX_JSON_DEPTH`` with ``400 json_too_deep``; strings with lone surrogates (not Unicode
text; PostgreSQL cannot store them) get ``400 invalid_unicode``; anything else that is not
JSON gets ``400 malformed_request``. It is the default parser (``REST_FRAMEWORK``), so no view
handles any of this itself.
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from rest_framework.parsers import JSONParser as _DrfJSONParser

from baas.errors import AppError

MAX_JSON_DEPTH = 32


def _too_deep() -> AppError:
    return AppError("json_too_deep",
                    f"The JSON body nests deeper than {MAX_JSON_DEPTH} levels.", 400,
                    details={"max_depth": MAX_JSON_DEPTH})


def check_depth(text: str, max_depth: int = MAX_JSON_DEPTH) -> None:
    """Raise ``json_too_deep`` if brackets outside strings nest deeper than ``max_depth``."""
    if text.count("[") + text.count("{") <= max_depth:
        return
    depth, in_string, escaped = 0, False, False
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
            if depth > max_depth:
                raise _too_deep()
        elif ch in "]}":
            depth -= 1


def _has_lone_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def check_text(value: Any) -> None:
    """Raise ``invalid_unicode`` if any string or key in ``value`` is not valid Unicode."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _has_lone_surrogate(item):
                raise AppError("invalid_unicode",
                               "A string in the JSON body is not valid Unicode "
                               "(it contains a lone surrogate).", 400)
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def loads(text: str) -> Any:
    check_depth(text)
    try:
        value = json.loads(text, parse_constant=_no_constant)
    except RecursionError:  # belt and braces: check_depth should have caught it
        raise _too_deep() from None
    except ValueError as exc:
        raise AppError("malformed_request", f"JSON parse error - {exc}", 400) from None
    check_text(value)
    return value


class JSONParser(_DrfJSONParser):
    def parse(self, stream: Any, media_type: Any = None, parser_context: Any = None) -> Any:
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        raw = stream.read() if stream is not None else b""
        try:
            text = raw.decode(encoding)
        except (UnicodeDecodeError, LookupError):
            raise AppError("malformed_request", f"The body is not valid {encoding}.", 400) \
                from None
        return loads(text)
