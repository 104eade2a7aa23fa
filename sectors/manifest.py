"""Reading a (validated) manifest: texts in the reader's language, functions, roles.

Pure helpers over the manifest dict, as ``tomllib`` parsed it and the validation accepted
it (``sectors.validation``), so they assume the schema holds.
"""

from __future__ import annotations

from typing import Any

ANYONE = "anyone"


def text(obj: Any, lang: str | None) -> str:
    """``{"en": ..., "ko": ...}`` in ``lang`` (Korean for any ``ko*``), English otherwise."""
    if not isinstance(obj, dict):
        return "" if obj is None else str(obj)
    if lang and lang.lower().startswith("ko") and obj.get("ko"):
        return str(obj["ko"])
    return str(obj.get("en") or obj.get("ko") or "")


def functions(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    return list(manifest.get("functions") or [])


def function_spec(manifest: dict[str, Any], name: Any) -> dict[str, Any] | None:
    for spec in functions(manifest):
        if spec.get("name") == name:
            return spec
    return None


def roles(manifest: dict[str, Any], holder: str | None = None) -> list[dict[str, Any]]:
    found = list(manifest.get("roles") or [])
    return [r for r in found if holder is None or r.get("holder") == holder]


def organisation_roles(manifest: dict[str, Any]) -> list[str]:
    return [r["id"] for r in roles(manifest, "organisation")]


def public_functions(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    return [f for f in functions(manifest) if f.get("public")]


def allows(spec: dict[str, Any], held: set[str]) -> bool:
    """May a caller holding ``held`` roles call the function ``spec``?"""
    allowed = set(spec.get("roles") or [])
    return ANYONE in allowed or bool(allowed & held)


def approval_rule(manifest: dict[str, Any]) -> str:
    return str((manifest.get("upgrade") or {}).get("approval") or "owner")


def approvals_needed(rule: str, organisations: int) -> int:
    """How many of ``organisations`` (the network's, owner included) must agree."""
    if rule == "all":
        return max(1, organisations)
    if rule == "majority":
        return organisations // 2 + 1
    return 1
