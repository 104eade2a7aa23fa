"""Helpers for this bundle's tests: the sample substitution the review does, and a runner.

Sample args may hold ``"$key:<name>"`` (the public key of the test key ``<name>``) and
``"$org:<role>"`` (the first organisation holding ``<role>``); the review substitutes them
the same way before sending.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from sectors.harness import BundleChain, CallFailed, key_for

BUNDLE = Path(__file__).resolve().parent.parent
MANIFEST = tomllib.loads((BUNDLE / "manifest.toml").read_text("utf-8"))
KINDS = {f["name"]: f["kind"] for f in MANIFEST["functions"]}


def substitute(value: Any, roles: dict[str, list[str]]) -> Any:
    """``value`` with every ``$key:<name>`` / ``$org:<role>`` string replaced."""
    if isinstance(value, dict):
        return {k: substitute(v, roles) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, roles) for v in value]
    if isinstance(value, str) and value.startswith("$key:"):
        return key_for(value[5:]).public_key_hex
    if isinstance(value, str) and value.startswith("$org:"):
        return roles[value[5:]][0]
    return value


def run(chain: BundleChain, who: str, function: str, args: dict[str, Any]) -> Any:
    """A write as a transaction signed by ``who``; a read as a query."""
    args = substitute(args, chain.roles)
    if KINDS[function] == "read":
        return chain.query(function, **args)
    return chain.call(who, function, **args)


def run_samples(chain: BundleChain) -> list[tuple[dict[str, Any], str, Any]]:
    """Every ``[[samples]]`` entry in order: (sample, "ok" | "refused", result or error)."""
    outcomes = []
    for sample in MANIFEST.get("samples", []):
        try:
            result = run(chain, sample["as"], sample["function"], sample.get("args", {}))
            outcomes.append((sample, "ok", result))
        except CallFailed as exc:
            outcomes.append((sample, "refused", exc))
    return outcomes


def events(outcome: Any) -> list[tuple[str, dict[str, str]]]:
    """The contract's own events of a call (without the host's ``tx`` event and the
    ``chaincode`` attribute the host adds)."""
    return [(t, {k: v for k, v in a.items() if k != "chaincode"})
            for t, a in outcome.events if t != "tx"]
