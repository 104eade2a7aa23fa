"""An in-process chain with one bundle installed: for bundle unit tests and the review.

No Django, no CometBFT: ``ledger.testing.start_chain`` drives a real ``LedgerApp`` block by
block, the bundle's contract is installed through ``_lifecycle`` exactly as on a network,
and calls go through the same admission, sandbox and step meter. The chain admits keys
that are not registered (``open_access``), as a network with public pages does, so key
roles (donors, residents) can act with their own keys.

```python
chain = BundleChain.start(tmp_path, bundle_dir, roles={"charity": ["org1"]})
chain.call("charity", "create_campaign", id="c1", goal=1000)
chain.call("key:alice", "donate", campaign="c1", amount=10)
chain.query("get_campaign", id="c1")
```

Callers are named by an organisation role (the admin key of the first organisation holding
it signs), ``org:<id>`` (that organisation's admin), or ``key:<name>`` (a key derived from
the name, registered nowhere: an outsider).
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ledger.errors import Code
from ledger.testing import Chain, seeded, start_chain
from ledger.tx import Signer

ORGS = ("org1", "org2", "org3")
ADMINS = {"org1": "admin1", "org2": "admin2", "org3": "admin3"}


class CallFailed(Exception):
    """A transaction or query the chain refused: ``code`` (ledger.errors.Code) and log."""

    def __init__(self, code: int, log: str, gas_used: int = 0) -> None:
        super().__init__(f"{Code(code).name}: {log}")
        self.code = Code(code)
        self.log = log
        self.gas_used = gas_used


@dataclass
class Outcome:
    result: Any
    gas_used: int
    events: list[tuple[str, dict[str, str]]]


def key_for(name: str) -> Signer:
    """The test key called ``name`` (deterministic, so samples can name keys)."""
    return seeded(f"key:{name}")


def substitute(value: Any, roles: dict[str, list[str]]) -> Any:
    """Replace ``"$key:<name>"`` and ``"$org:<role>"`` strings anywhere in ``value``."""
    if isinstance(value, str):
        if value.startswith("$key:") and len(value) > 5:
            return key_for(value[5:]).public_key_hex
        if value.startswith("$org:") and roles.get(value[5:]):
            return roles[value[5:]][0]
        return value
    if isinstance(value, list):
        return [substitute(v, roles) for v in value]
    if isinstance(value, dict):
        return {substitute(k, roles): substitute(v, roles) for k, v in value.items()}
    return value


def contract_events(outcome: Outcome) -> list[tuple[str, dict[str, str]]]:
    """The contract's own events of a call (without the host's ``tx`` event and the
    ``chaincode`` attribute the host adds)."""
    return [(t, {k: v for k, v in a.items() if k != "chaincode"})
            for t, a in outcome.events if t != "tx"]


class BundleChain:
    def __init__(self, chain: Chain, name: str, roles: dict[str, list[str]]) -> None:
        self.chain = chain
        self.name = name
        self.roles = roles

    # -- setup ---------------------------------------------------------------------------
    @classmethod
    def start(cls, path: Path, bundle: Path | str, *, roles: dict[str, list[str]] | None = None,
              init_args: dict[str, Any] | None = None, source: str | None = None,
              manifest: dict[str, Any] | None = None) -> BundleChain:
        """Start a chain, install the bundle's contract and call its init function.

        ``roles`` maps organisation roles to organisation ids (default: org1 holds every
        organisation role of the manifest); ``init_args`` default to the manifest's.
        """
        bundle = Path(bundle)
        if manifest is None:
            manifest = tomllib.loads((bundle / "manifest.toml").read_text("utf-8"))
        if source is None:
            source = (bundle / "contract.py").read_text("utf-8")
        if roles is None:
            roles = {r["id"]: ["org1"] for r in manifest.get("roles", [])
                     if r.get("holder") == "organisation"}
        chain = start_chain(Path(path), open_access=True)
        self = cls(chain, manifest["name"], roles)
        self.install(manifest["version"], source)
        init = manifest.get("init") or {}
        if init.get("function"):
            args = dict(init.get("args") or {}) if init_args is None else dict(init_args)
            self.call("org:org1", init["function"], roles=roles, **args)
        return self

    def install(self, version: str, source: str) -> Outcome:
        return self._send("admin1", "_lifecycle", "install", [self.name, version, source])

    # -- calls ---------------------------------------------------------------------------
    def signer(self, who: str) -> Signer:
        if who.startswith("key:"):
            return key_for(who[4:])
        if who.startswith("org:"):
            return self.chain.keys[ADMINS[who[4:]]]
        holders = self.roles.get(who)
        if not holders:
            raise KeyError(f"no organisation holds role {who!r} in this chain")
        return self.chain.keys[ADMINS[holders[0]]]

    def public_key(self, who: str) -> str:
        return self.signer(who).public_key_hex

    def call(self, who: str, function: str, **args: Any) -> Any:
        """Send a transaction as ``who``; returns the result, raises CallFailed."""
        return self.send(who, function, **args).result

    def send(self, who: str, function: str, **args: Any) -> Outcome:
        return self._send(self.signer(who), self.name, function, args)

    def query(self, function: str, **args: Any) -> Any:
        result = self.chain.call(self.name, function, args)
        if result.code:
            raise CallFailed(result.code, result.log)
        return json.loads(result.value)

    def _send(self, signer: str | Signer, chaincode: str, function: str, args: Any) -> Outcome:
        block = self.chain.block(self.chain.tx(signer, chaincode, function, args))
        tx = block.tx_results[0]
        if tx.code:
            raise CallFailed(tx.code, tx.log, tx.gas_used)
        events = [(e.type, dict(e.attributes)) for e in tx.events]
        return Outcome(json.loads(tx.data) if tx.data else None, tx.gas_used, events)

    def close(self) -> None:
        self.chain.app.close()


class Samples:
    """A bundle's manifest and its ``[[samples]]``, run as the review runs them (args
    substituted, a read as a query, a write as a transaction): the checks every bundle's
    own tests make of its samples and exports."""

    def __init__(self, bundle: Path) -> None:
        self.bundle = Path(bundle)
        self.manifest: dict[str, Any] = tomllib.loads(
            (self.bundle / "manifest.toml").read_text("utf-8"))
        self.kinds = {f["name"]: f["kind"] for f in self.manifest["functions"]}

    def run(self, chain: BundleChain, who: str, function: str, args: dict[str, Any]) -> Any:
        """A write as a transaction signed by ``who``; a read as a query."""
        args = substitute(args, chain.roles)
        if self.kinds[function] == "read":
            return chain.query(function, **args)
        return chain.call(who, function, **args)

    def run_all(self, chain: BundleChain) -> list[tuple[dict[str, Any], str, Any]]:
        """Every sample in order: (sample, "ok" | "refused", result or error)."""
        outcomes = []
        for sample in self.manifest.get("samples", []):
            try:
                result = self.run(chain, sample["as"], sample["function"],
                                  sample.get("args", {}))
                outcomes.append((sample, "ok", result))
            except CallFailed as exc:
                outcomes.append((sample, "refused", exc))
        return outcomes

    def sample_problems(self, chain: BundleChain) -> list[str]:
        """Each sample whose outcome is not the one it ``expect``s, and each function
        (but ``init``) no sample calls."""
        problems = [f"sample {i} ({sample['function']}): expected {sample['expect']}, "
                    f"got {got}: {result}"
                    for i, (sample, got, result) in enumerate(self.run_all(chain))
                    if got != sample["expect"]]
        called = {s["function"] for s in self.manifest.get("samples", [])}
        problems += [f"{name}: no sample calls it"
                     for name in sorted(set(self.kinds) - called - {"init"})]
        return problems

    def export_problems(self) -> list[str]:
        """Each function the manifest declares that the contract does not export with that
        kind, each argument schema that is not a closed object with ``required`` and
        labels in both languages, and exports the manifest does not declare."""
        source = (self.bundle / "contract.py").read_text("utf-8")
        problems = []
        for f in self.manifest["functions"]:
            name, args = f["name"], f["args"]
            if f"@{f['kind']}\ndef {name}(ctx" not in source:
                problems.append(f"{name}: not exported as @{f['kind']}")
            if args.get("type") != "object" or args.get("additionalProperties") is not False:
                problems.append(f"{name}: args are not a closed object")
            if "required" not in args:
                problems.append(f"{name}: args name no required list")
            problems += [f"{name}.{prop}: x-label is not en and ko"
                         for prop, schema in args.get("properties", {}).items()
                         if set(schema.get("x-label") or {}) != {"en", "ko"}]
        exports = source.count("\n@write\n") + source.count("\n@read\n")
        if exports != len(self.manifest["functions"]):
            problems.append(f"the contract exports {exports} functions, the manifest declares "
                            f"{len(self.manifest['functions'])}")
        return problems
