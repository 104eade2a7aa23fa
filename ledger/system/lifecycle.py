"""``_lifecycle``: install and upgrade chaincode by code hash under an approval policy.

Keys in the ``_lifecycle`` key space:
- ``policy`` -> ``{"min_organisations": N}`` (from genesis)
- ``code/<sha256 hex>`` -> the source text (code lives on chain, so every node runs it)
- ``cc/<name>`` -> ``{"name", "version", "code_hash", "exports", "sequence", "height"}``
- ``proposal/<name>/<version>`` -> ``{"name", "version", "code_hash", "approvals", "proposer"}``

``install(name, version, source)`` compiles the source (refusing it if the sandbox does),
stores it by hash and records the caller's organisation as the first approval;
``approve(name, version, code_hash)`` adds another organisation's approval. When the number
of distinct approving organisations reaches the policy, the version becomes active: the next
transaction to the chaincode runs the new code against the same key space, so an upgrade
keeps the state.
"""

from __future__ import annotations

import re
from typing import Any

from ledger.errors import Code, LedgerError
from ledger.sandbox import compile_steps
from ledger.system.base import (
    SystemChaincode,
    SystemContext,
    counted,
    governing_org,
    require_str,
)

NAME = "_lifecycle"
USER_CHAINCODE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
VERSION = re.compile(r"^[0-9A-Za-z][0-9A-Za-z.+_-]{0,31}$")
lifecycle = SystemChaincode(NAME)


def _policy(ctx: SystemContext) -> int:
    return int((ctx.get("policy") or {}).get("min_organisations", 1))


def _activate(ctx: SystemContext, proposal: dict[str, Any], exports: dict[str, str]) -> None:
    name = proposal["name"]
    previous = ctx.get(f"cc/{name}")
    record = {
        "name": name,
        "version": proposal["version"],
        "code_hash": proposal["code_hash"],
        "exports": exports,
        "sequence": 1 if previous is None else previous["sequence"] + 1,
        "height": ctx.block_height,
    }
    ctx.put(f"cc/{name}", record)
    ctx.delete(f"proposal/{name}/{proposal['version']}")
    ctx.emit("chaincode_activated", name=name, version=proposal["version"],
             code_hash=proposal["code_hash"])


def _status(ctx: SystemContext, proposal: dict[str, Any], active: bool) -> dict[str, Any]:
    return {"name": proposal["name"], "version": proposal["version"],
            "code_hash": proposal["code_hash"], "approvals": proposal["approvals"],
            "required": _policy(ctx), "status": "active" if active else "pending"}


def _approve(ctx: SystemContext, proposal: dict[str, Any], org: str) -> dict[str, Any]:
    approvals = counted(ctx, proposal["approvals"])
    if org in approvals:
        raise LedgerError(Code.INVALID_ARGUMENT, f"organisation {org!r} already approved")
    proposal["approvals"] = sorted([*approvals, org])
    ctx.emit("chaincode_approved", name=proposal["name"], version=proposal["version"], org=org)
    if len(proposal["approvals"]) >= _policy(ctx):
        source = ctx.get(f"code/{proposal['code_hash']}")
        compiled = _compile(ctx, source)
        _activate(ctx, proposal, compiled.exports)
        return _status(ctx, proposal, True)
    ctx.put(f"proposal/{proposal['name']}/{proposal['version']}", proposal)
    return _status(ctx, proposal, False)


def _compile(ctx: SystemContext, source: str) -> Any:
    """Compile, paid like a call: by the size of the source before compiling, then by the
    steps the module body took (the same charge whether the node had it cached or not)."""
    ctx.charge(compile_steps(source))
    compiled = ctx.host.compile(source)
    ctx.charge(compiled.load_steps)
    return compiled


@lifecycle.write
def install(ctx: SystemContext, name: str, version: str, source: str) -> dict[str, Any]:
    """Propose (and with enough approvals activate) ``source`` as ``name`` ``version``."""
    org = governing_org(ctx)
    if not isinstance(name, str) or not USER_CHAINCODE_NAME.match(name):
        raise LedgerError(Code.INVALID_ARGUMENT,
                          "chaincode name must match " + USER_CHAINCODE_NAME.pattern)
    if not isinstance(version, str) or not VERSION.match(version):
        raise LedgerError(Code.INVALID_ARGUMENT, "version must match " + VERSION.pattern)
    require_str(source, "source", max_len=128 * 1024)
    compiled = _compile(ctx, source)  # raises CODE_REJECTED with the reasons
    current = ctx.get(f"cc/{name}")
    if current is not None and current["version"] == version:
        raise LedgerError(Code.INVALID_ARGUMENT, f"{name} {version} is already active")
    key = f"proposal/{name}/{version}"
    proposal = ctx.get(key)
    if proposal is not None:
        if proposal["code_hash"] != compiled.code_hash:
            raise LedgerError(Code.INVALID_ARGUMENT,
                              f"{name} {version} is already proposed with other code")
        return _approve(ctx, proposal, org)
    if not ctx.has(f"code/{compiled.code_hash}"):
        ctx.put(f"code/{compiled.code_hash}", source)
    proposal = {"name": name, "version": version, "code_hash": compiled.code_hash,
                "approvals": [], "proposer": ctx.caller.public_key}
    return _approve(ctx, proposal, org)


@lifecycle.write
def approve(ctx: SystemContext, name: str, version: str, code_hash: str) -> dict[str, Any]:
    """Approve a pending proposal for the caller's organisation."""
    org = governing_org(ctx)
    proposal = ctx.get(f"proposal/{require_str(name, 'name')}/{require_str(version, 'version')}")
    if proposal is None:
        raise LedgerError(Code.NOT_FOUND, f"no pending proposal for {name} {version}")
    if proposal["code_hash"] != code_hash:
        raise LedgerError(Code.INVALID_ARGUMENT, "code_hash does not match the proposal")
    return _approve(ctx, proposal, org)


def list_chaincodes(ctx: SystemContext) -> Any:
    return [v for _, v in ctx.range("cc/", "cc0", limit=1000)]


lifecycle.exports["list"] = ("read", list_chaincodes)


@lifecycle.read
def inspect(ctx: SystemContext, name: str) -> Any:
    record = ctx.get(f"cc/{require_str(name, 'name')}")
    pending = [v for _, v in ctx.range(f"proposal/{name}/", f"proposal/{name}0", limit=100)]
    if record is None and not pending:
        raise LedgerError(Code.NOT_FOUND, f"chaincode {name!r} is not installed")
    return {"active": record, "pending": pending, "policy": {"min_organisations": _policy(ctx)}}


@lifecycle.read
def get_source(ctx: SystemContext, code_hash: str) -> Any:
    source = ctx.get(f"code/{require_str(code_hash, 'code_hash', max_len=64)}")
    if source is None:
        raise LedgerError(Code.NOT_FOUND, "no code with that hash")
    return source
