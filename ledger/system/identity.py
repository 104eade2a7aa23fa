"""``_identity``: organisations, their members (keys + roles) and validator node keys.

Keys in the ``_identity`` key space:
- ``org/<id>`` -> ``{"id", "name"}``
- ``member/<public key hex>`` -> ``{"public_key", "org", "member", "roles"}``
- ``node/<public key hex>`` -> ``{"public_key", "org", "name", "power"}``

Every write needs the ``admin`` role. Adding, re-weighting or removing a node emits a
validator update that the block hands to CometBFT (power 0 removes the validator).
"""

from __future__ import annotations

from typing import Any

from ledger.errors import Code, LedgerError
from ledger.system.base import (
    SystemChaincode,
    SystemContext,
    require_admin,
    require_hex_key,
    require_str,
)

NAME = "_identity"
MAX_ROLES = 16
MAX_POWER = 1_000_000
identity = SystemChaincode(NAME)


def _roles(value: Any) -> list[str]:
    if not isinstance(value, list) or len(value) > MAX_ROLES:
        raise LedgerError(Code.INVALID_ARGUMENT, f"roles must be a list of at most {MAX_ROLES}")
    return sorted({require_str(r, "role", max_len=64) for r in value})


def _power(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 < value <= MAX_POWER:
        raise LedgerError(Code.INVALID_ARGUMENT, f"power must be an integer 1..{MAX_POWER}")
    return value


def _need_org(ctx: SystemContext, org: str) -> None:
    if not ctx.has(f"org/{org}"):
        raise LedgerError(Code.NOT_FOUND, f"organisation {org!r} does not exist")


@identity.write
def add_org(ctx: SystemContext, id: str, name: str) -> dict[str, str]:  # noqa: A002
    require_admin(ctx)
    require_str(id, "id", max_len=64)
    if ctx.has(f"org/{id}"):
        raise LedgerError(Code.INVALID_ARGUMENT, f"organisation {id!r} already exists")
    record = {"id": id, "name": require_str(name, "name")}
    ctx.put(f"org/{id}", record)
    ctx.emit("org_added", org=id)
    return record


@identity.write
def add_member(ctx: SystemContext, org: str, member: str, public_key: str,
               roles: list[str] | None = None) -> dict[str, Any]:
    require_admin(ctx)
    _need_org(ctx, require_str(org, "org", max_len=64))
    require_hex_key(public_key)
    if ctx.has(f"member/{public_key}"):
        raise LedgerError(Code.INVALID_ARGUMENT, "public key is already registered")
    record = {"public_key": public_key, "org": org, "member": require_str(member, "member"),
              "roles": _roles(roles or [])}
    ctx.put(f"member/{public_key}", record)
    ctx.emit("member_added", org=org, member=member, public_key=public_key)
    return record


@identity.write
def set_roles(ctx: SystemContext, public_key: str, roles: list[str]) -> dict[str, Any]:
    require_admin(ctx)
    record = ctx.get(f"member/{require_hex_key(public_key)}")
    if record is None:
        raise LedgerError(Code.NOT_FOUND, "no member with that public key")
    record["roles"] = _roles(roles)
    ctx.put(f"member/{public_key}", record)
    ctx.emit("member_roles_set", public_key=public_key, roles=",".join(record["roles"]))
    return record


@identity.write
def remove_member(ctx: SystemContext, public_key: str) -> None:
    require_admin(ctx)
    if ctx.get(f"member/{require_hex_key(public_key)}") is None:
        raise LedgerError(Code.NOT_FOUND, "no member with that public key")
    if public_key == ctx.caller.public_key:
        raise LedgerError(Code.INVALID_ARGUMENT, "an admin cannot remove itself")
    ctx.delete(f"member/{public_key}")
    ctx.emit("member_removed", public_key=public_key)


def _validator_count(ctx: SystemContext) -> int:
    return sum(1 for _, node in ctx.range("node/", "node0", limit=1000) if node["power"] > 0)


@identity.write
def add_node(ctx: SystemContext, org: str, name: str, public_key: str,
             power: int = 10) -> dict[str, Any]:
    """Register a validator node key; CometBFT adds it to the validator set."""
    require_admin(ctx)
    _need_org(ctx, require_str(org, "org", max_len=64))
    require_hex_key(public_key)
    if ctx.has(f"node/{public_key}"):
        raise LedgerError(Code.INVALID_ARGUMENT, "node key is already registered")
    record = {"public_key": public_key, "org": org, "name": require_str(name, "name"),
              "power": _power(power)}
    ctx.put(f"node/{public_key}", record)
    ctx.validator_updates.append((bytes.fromhex(public_key), record["power"]))
    ctx.emit("validator_set", public_key=public_key, power=str(record["power"]))
    return record


@identity.write
def set_node_power(ctx: SystemContext, public_key: str, power: int) -> dict[str, Any]:
    require_admin(ctx)
    record = ctx.get(f"node/{require_hex_key(public_key)}")
    if record is None:
        raise LedgerError(Code.NOT_FOUND, "no node with that public key")
    record["power"] = _power(power)
    ctx.put(f"node/{public_key}", record)
    ctx.validator_updates.append((bytes.fromhex(public_key), record["power"]))
    ctx.emit("validator_set", public_key=public_key, power=str(record["power"]))
    return record


@identity.write
def remove_node(ctx: SystemContext, public_key: str) -> None:
    require_admin(ctx)
    record = ctx.get(f"node/{require_hex_key(public_key)}")
    if record is None:
        raise LedgerError(Code.NOT_FOUND, "no node with that public key")
    if record["power"] > 0 and _validator_count(ctx) <= 1:
        raise LedgerError(Code.INVALID_ARGUMENT, "cannot remove the last validator")
    ctx.delete(f"node/{public_key}")
    ctx.validator_updates.append((bytes.fromhex(public_key), 0))
    ctx.emit("validator_set", public_key=public_key, power="0")


@identity.read
def get_org(ctx: SystemContext, id: str) -> Any:  # noqa: A002
    return ctx.get(f"org/{id}")


@identity.read
def list_orgs(ctx: SystemContext) -> list[Any]:
    return [v for _, v in ctx.range("org/", "org0", limit=1000)]


@identity.read
def get_member(ctx: SystemContext, public_key: str) -> Any:
    return ctx.get(f"member/{require_hex_key(public_key)}")


@identity.read
def list_members(ctx: SystemContext, org: str | None = None) -> list[Any]:
    members = [v for _, v in ctx.range("member/", "member0", limit=1000)]
    return [m for m in members if org is None or m["org"] == org]


@identity.read
def list_nodes(ctx: SystemContext) -> list[Any]:
    return [v for _, v in ctx.range("node/", "node0", limit=1000)]
