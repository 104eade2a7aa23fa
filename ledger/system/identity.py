"""``_identity``: organisations, their members (keys + roles) and validator node keys.

Keys in the ``_identity`` key space:
- ``org/<id>`` -> ``{"id", "name"}``
- ``member/<public key hex>`` -> ``{"public_key", "org", "member", "roles"}``
- ``node/<public key hex>`` -> ``{"public_key", "org", "name", "power"}``

Every write needs the ``admin`` role, and the scope follows the consortium:
- an admin manages the members of **its own organisation** only;
- adding or removing an organisation and adding, re-weighting or removing a validator node
  change who governs the network, so they need approvals from ``min_organisations``
  distinct organisations (the genesis ``upgrade_policy``, the same one chaincode upgrades
  use). Each
  approving admin sends the same call; the change applies when the count is reached. With
  the default policy of 1 it applies at once.

Node changes emit a validator update that the block hands to CometBFT (power 0 removes the
validator). Proposals live under ``proposal/<kind>/<subject>``; sending the same kind and
subject with different arguments replaces the pending proposal and resets its approvals.
"""

from __future__ import annotations

import re
from typing import Any

from ledger.errors import Code, LedgerError
from ledger.system.base import (
    SystemChaincode,
    SystemContext,
    counted,
    governing_org,
    require_admin,
    require_hex_key,
    require_str,
)
from ledger.tx import verify_membership_proof

NAME = "_identity"
MAX_ROLES = 16
MAX_POWER = 1_000_000
MAX_PAGE = 1000  # keys per range call when a function must see them all
MAX_MEMBERS_PER_ORG = 1000  # keys per organisation (removing one must fit in one tx)
ORG_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")  # no "/": ids prefix index keys
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


def _own_org(ctx: SystemContext, org: str) -> None:
    require_admin(ctx)
    if ctx.caller.org != org:
        raise LedgerError(Code.UNAUTHORIZED,
                          "admins manage the members of their own organisation only")


def _policy(ctx: SystemContext) -> int:
    return int((ctx.read_other("_lifecycle", "policy") or {}).get("min_organisations", 1))


def _approve(ctx: SystemContext, org: str, kind: str, subject: str,
             payload: dict[str, Any]) -> dict[str, Any]:
    """Count ``org`` (the caller's, from ``governing_org``, checked before anything else)
    for a governance change; 'approved' when enough governing organisations agree."""
    key = f"proposal/{kind}/{subject}"
    proposal = ctx.get(key)
    if proposal is None or proposal["payload"] != payload:
        proposal = {"kind": kind, "subject": subject, "payload": payload, "approvals": []}
    approvals = counted(ctx, proposal["approvals"])
    if org in approvals:
        raise LedgerError(Code.INVALID_ARGUMENT, f"organisation {org!r} already approved")
    proposal["approvals"] = sorted([*approvals, org])
    required = _policy(ctx)
    approved = len(proposal["approvals"]) >= required
    if approved:
        ctx.delete(key)
    else:
        ctx.put(key, proposal)
    ctx.emit("identity_approval", kind=kind, subject=subject, org=org,
             status="approved" if approved else "pending")
    return {"kind": kind, "subject": subject, "approvals": proposal["approvals"],
            "required": required, "status": "approved" if approved else "pending"}


def _every(ctx: SystemContext, prefix: str) -> list[list[Any]]:
    """Every [key, value] under ``prefix``, page by page (one range call is capped)."""
    found: list[list[Any]] = []
    start, end = prefix, prefix[:-1] + "0"  # "member/" .. "member0": the whole prefix
    while True:
        page = ctx.range(start, end, limit=MAX_PAGE)
        found += page
        if len(page) < MAX_PAGE:
            return found
        start = page[-1][0] + "\x00"  # the next key after the last one seen


# -- direct writes (used by genesis and by approved proposals) ---------------------------
def _org_id(value: Any) -> str:
    if not isinstance(value, str) or not ORG_ID.match(value):
        raise LedgerError(Code.INVALID_ARGUMENT, "organisation id must match " + ORG_ID.pattern)
    return value


def _proven(ctx: SystemContext, org: str, public_key: str, proof: Any, what: str) -> None:
    if not verify_membership_proof(ctx.host.chain_id, org, public_key, proof):
        raise LedgerError(Code.INVALID_ARGUMENT,
                          f"{what} needs the key's own proof of possession: its signature "
                          "over the chain id and the organisation (ledger.tx.membership_proof)")


def create_org(ctx: SystemContext, org_id: str, name: str, *,
               governs: bool) -> dict[str, Any]:
    _org_id(org_id)
    if ctx.has(f"org/{org_id}"):
        raise LedgerError(Code.INVALID_ARGUMENT, f"organisation {org_id!r} already exists")
    record = {"id": org_id, "name": require_str(name, "name"), "governs": governs,
              "members": 0}
    ctx.put(f"org/{org_id}", record)
    ctx.emit("org_added", org=org_id)
    return record


def create_member(ctx: SystemContext, org: str, member: str, public_key: str,
                  roles: list[str]) -> dict[str, Any]:
    _need_org(ctx, require_str(org, "org", max_len=64))
    require_hex_key(public_key)
    if ctx.has(f"member/{public_key}"):
        raise LedgerError(Code.INVALID_ARGUMENT, "public key is already registered")
    org_record = ctx.get(f"org/{org}")
    count = int(org_record.get("members", 0))
    if count >= MAX_MEMBERS_PER_ORG:
        # Bounded so that removing the organisation always fits in one transaction.
        raise LedgerError(Code.RESOURCE_LIMIT,
                          f"organisation {org!r} has {count} keys, the most one may have")
    record = {"public_key": public_key, "org": org, "member": require_str(member, "member"),
              "roles": _roles(roles)}
    ctx.put(f"member/{public_key}", record)
    ctx.put(f"orgmember/{org}/{public_key}", 1)  # per-org index: remove_org walks only it
    ctx.put(f"org/{org}", {**org_record, "members": count + 1})
    ctx.emit("member_added", org=org, member=member, public_key=public_key)
    return record


def _set_power(ctx: SystemContext, record: dict[str, Any], power: int) -> None:
    key = record["public_key"]
    if power:
        record["power"] = power
        ctx.put(f"node/{key}", record)
    else:
        ctx.delete(f"node/{key}")
    ctx.validator_updates.append((bytes.fromhex(key), power))
    ctx.emit("validator_set", public_key=key, power=str(power))


# -- organisations -----------------------------------------------------------------------
@identity.write
def add_org(ctx: SystemContext, id: str, name: str,  # noqa: A002
            admin_public_key: str | None = None, governs: bool = False,
            admin_proof: str | None = None) -> dict[str, Any]:
    """Propose/approve a new organisation, optionally with its first admin's key (and that
    key's proof of possession, ``ledger.tx.membership_proof``). It takes part in governance
    only with ``governs`` (a consortium member usually does not)."""
    approver = governing_org(ctx)  # who may, before anything else
    _org_id(id)
    require_str(name, "name")
    if not isinstance(governs, bool):
        raise LedgerError(Code.INVALID_ARGUMENT, "governs must be true or false")
    if admin_public_key is not None:
        require_hex_key(admin_public_key, "admin_public_key")
        _proven(ctx, id, admin_public_key, admin_proof, "admin_public_key")
        if ctx.has(f"member/{admin_public_key}"):
            raise LedgerError(Code.INVALID_ARGUMENT, "admin_public_key is already registered")
    if ctx.has(f"org/{id}"):
        raise LedgerError(Code.INVALID_ARGUMENT, f"organisation {id!r} already exists")
    status = _approve(ctx, approver, "org", id,
                      {"name": name, "admin": admin_public_key, "governs": governs})
    if status["status"] == "approved":
        create_org(ctx, id, name, governs=governs)
        if admin_public_key is not None:
            create_member(ctx, id, "admin", admin_public_key, ["admin"])
    return status


@identity.write
def remove_org(ctx: SystemContext, id: str) -> dict[str, Any]:  # noqa: A002
    """Propose/approve taking an organisation out of the network: once approved its record
    and every member key go (their transactions are refused as unknown signers). Its
    validators must have left first, so the validator set never changes as a side effect;
    an organisation cannot remove itself, so governance always keeps someone."""
    approver = governing_org(ctx)  # who may, before anything else
    _need_org(ctx, require_str(id, "id", max_len=64))
    if approver == id:
        raise LedgerError(Code.INVALID_ARGUMENT, "an organisation cannot remove itself")
    running = [n["name"] for _, n in _every(ctx, "node/") if n["org"] == id]
    if running:
        raise LedgerError(Code.INVALID_ARGUMENT,
                          f"organisation {id!r} still runs validators ({', '.join(running)}); "
                          "remove them first")
    status = _approve(ctx, approver, "org_remove", id, {})
    if status["status"] == "approved":
        # At most MAX_MEMBERS_PER_ORG keys: this always fits in one transaction's budget.
        # Every key is indexed (genesis members too), so none survives its organisation.
        for key, _ in _every(ctx, f"orgmember/{id}/"):
            ctx.delete(f"member/{key.rsplit('/', 1)[1]}")
            ctx.delete(key)
        ctx.delete(f"org/{id}")
        ctx.emit("org_removed", org=id)
    return status


# -- members (own organisation) ----------------------------------------------------------
@identity.write
def add_member(ctx: SystemContext, org: str, member: str, public_key: str,
               roles: list[str] | None = None, proof: str | None = None) -> dict[str, Any]:
    """Register a key of the caller's own organisation; ``proof`` is the new key's
    signature (``ledger.tx.membership_proof``), so only a key's holder can join it."""
    _own_org(ctx, org)
    _proven(ctx, org, require_hex_key(public_key), proof, "public_key")
    return create_member(ctx, org, member, public_key, roles or [])


def _member_of_own_org(ctx: SystemContext, public_key: str) -> dict[str, Any]:
    require_admin(ctx)
    record = ctx.get(f"member/{require_hex_key(public_key)}")
    if record is None:
        raise LedgerError(Code.NOT_FOUND, "no member with that public key")
    _own_org(ctx, record["org"])
    return record


@identity.write
def set_roles(ctx: SystemContext, public_key: str, roles: list[str]) -> dict[str, Any]:
    record = _member_of_own_org(ctx, public_key)
    record["roles"] = _roles(roles)
    ctx.put(f"member/{public_key}", record)
    ctx.emit("member_roles_set", public_key=public_key, roles=",".join(record["roles"]))
    return record


@identity.write
def remove_member(ctx: SystemContext, public_key: str) -> None:
    _member_of_own_org(ctx, public_key)
    if public_key == ctx.caller.public_key:
        raise LedgerError(Code.INVALID_ARGUMENT, "an admin cannot remove itself")
    record = ctx.get(f"member/{public_key}")
    ctx.delete(f"member/{public_key}")
    ctx.delete(f"orgmember/{record['org']}/{public_key}")
    org_record = ctx.get(f"org/{record['org']}")
    ctx.put(f"org/{record['org']}", {**org_record,
                                     "members": max(0, int(org_record.get("members", 1)) - 1)})
    ctx.emit("member_removed", public_key=public_key)


# -- validator nodes (governance: policy approvals) --------------------------------------
def _validator_count(ctx: SystemContext) -> int:
    return sum(1 for _, node in _every(ctx, "node/") if node["power"] > 0)


@identity.write
def add_node(ctx: SystemContext, org: str, name: str, public_key: str,
             power: int = 10) -> dict[str, Any]:
    """Propose/approve a validator node key; once approved CometBFT adds it."""
    approver = governing_org(ctx)  # who may, before anything else
    _need_org(ctx, require_str(org, "org", max_len=64))
    require_hex_key(public_key)
    require_str(name, "name")
    _power(power)
    if ctx.has(f"node/{public_key}"):
        raise LedgerError(Code.INVALID_ARGUMENT, "node key is already registered")
    status = _approve(ctx, approver, "node", public_key,
                      {"org": org, "name": name, "power": power})
    if status["status"] == "approved":
        _set_power(ctx, {"public_key": public_key, "org": org, "name": name}, power)
    return status


@identity.write
def set_node_power(ctx: SystemContext, public_key: str, power: int) -> dict[str, Any]:
    approver = governing_org(ctx)  # who may, before anything else
    record = ctx.get(f"node/{require_hex_key(public_key)}")
    if record is None:
        raise LedgerError(Code.NOT_FOUND, "no node with that public key")
    _power(power)
    status = _approve(ctx, approver, "node", public_key, {"power": power})
    if status["status"] == "approved":
        _set_power(ctx, record, power)
    return status


@identity.write
def remove_node(ctx: SystemContext, public_key: str) -> dict[str, Any]:
    approver = governing_org(ctx)  # who may, before anything else
    record = ctx.get(f"node/{require_hex_key(public_key)}")
    if record is None:
        raise LedgerError(Code.NOT_FOUND, "no node with that public key")
    if record["power"] > 0 and _validator_count(ctx) <= 1:
        raise LedgerError(Code.INVALID_ARGUMENT, "cannot remove the last validator")
    status = _approve(ctx, approver, "node", public_key, {"power": 0})
    if status["status"] == "approved":
        _set_power(ctx, record, 0)
    return status


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


@identity.read
def list_proposals(ctx: SystemContext) -> list[Any]:
    return [v for _, v in ctx.range("proposal/", "proposal0", limit=1000)]
