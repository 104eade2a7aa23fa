"""Genesis ``app_state``: the organisations, chaincodes and policy a network starts with.

``make_app_state`` produces the JSON bytes that ledger-net's network generator writes into
``genesis.json`` (``app_state``) and CometBFT hands to ``InitChain``. ``parse_app_state``
validates it on the node; a bad genesis stops the node at InitChain with a clear message.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ledger import canonical
from ledger.chaincode import source as bundled_source
from ledger.system.base import require_hex_key
from ledger.system.lifecycle import USER_CHAINCODE_NAME


class GenesisError(ValueError):
    """The genesis app_state is invalid."""


def member(member_id: str, public_key: str, roles: list[str] | None = None) -> dict[str, Any]:
    return {"id": member_id, "public_key": public_key, "roles": list(roles or [])}


def organisation(org_id: str, name: str, members: list[dict[str, Any]]) -> dict[str, Any]:
    return {"id": org_id, "name": name, "members": members}


def kv_chaincode(version: str = "1.0.0") -> dict[str, str]:
    return {"name": "kv", "version": version, "source": bundled_source("kv")}


def make_app_state(
    *,
    organisations: list[dict[str, Any]],
    chaincodes: list[dict[str, str]] | None = None,
    min_organisations: int = 1,
    open_access: bool = False,
    validator_org: str | None = None,
) -> bytes:
    """Genesis app_state bytes. ``chaincodes=None`` installs the bundled ``kv`` chaincode.

    ``open_access=True`` lets keys that are not registered in ``_identity`` send
    transactions (as callers with no organisation and no roles); by default only registered
    members may transact, as befits a permissioned network.

    ``validator_org`` names the organisation that runs the genesis validators (CometBFT's
    genesis lists their keys, not who operates them); without it they belong to none.
    """
    state = {
        "organisations": organisations,
        "chaincodes": [kv_chaincode()] if chaincodes is None else chaincodes,
        "upgrade_policy": {"min_organisations": min_organisations},
        "open_access": open_access,
    }
    if validator_org is not None:
        state["validator_org"] = validator_org
    data = canonical.encode(state)
    parse_app_state(data)  # fail at generation time, not on the node
    return data


def single_org_app_state(admin_public_key: str, **kwargs: Any) -> bytes:
    """Convenience: one organisation ``org1`` whose ``admin`` member holds the given key."""
    org = organisation("org1", "Org One", [member("admin", admin_public_key, ["admin"])])
    return make_app_state(organisations=[org], **kwargs)


@dataclass(frozen=True)
class Genesis:
    organisations: list[dict[str, Any]]
    chaincodes: list[dict[str, str]]
    min_organisations: int
    open_access: bool
    validator_org: str = ""


def parse_app_state(data: bytes) -> Genesis:
    if not data.strip():
        return Genesis([], [], 1, False)
    try:
        raw = json.loads(data)
    except ValueError as exc:
        raise GenesisError(f"app_state is not JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise GenesisError("app_state must be a JSON object")
    unknown = set(raw) - {"organisations", "chaincodes", "upgrade_policy", "open_access",
                       "validator_org"}
    if unknown:
        raise GenesisError(f"unknown app_state fields: {sorted(unknown)}")
    orgs = raw.get("organisations", [])
    if not isinstance(orgs, list):
        raise GenesisError("organisations must be a list")
    seen_orgs: set[str] = set()
    seen_keys: set[str] = set()
    for org in orgs:
        if not isinstance(org, dict) or not isinstance(org.get("id"), str) or not org["id"]:
            raise GenesisError("each organisation needs an 'id' string")
        if org["id"] in seen_orgs:
            raise GenesisError(f"organisation {org['id']!r} appears twice")
        seen_orgs.add(org["id"])
        members = org.get("members", [])
        if not isinstance(members, list) or not all(isinstance(m, dict) for m in members):
            raise GenesisError(f"members of {org['id']!r} must be a list of objects")
        for m in members:
            try:
                require_hex_key(m.get("public_key"))
            except Exception:
                raise GenesisError(
                    f"member {m.get('id')!r} of {org['id']!r}: public_key must be 64 hex chars"
                ) from None
            if m["public_key"] in seen_keys:
                raise GenesisError(f"public key {m['public_key']} is registered twice")
            seen_keys.add(m["public_key"])
    chaincodes = raw.get("chaincodes", [])
    if not isinstance(chaincodes, list) or not all(
        isinstance(c, dict) and {"name", "version", "source"} <= set(c) for c in chaincodes
    ):
        raise GenesisError("chaincodes must be a list of {name, version, source}")
    names = [c["name"] for c in chaincodes]
    for name in names:
        if not isinstance(name, str) or not USER_CHAINCODE_NAME.match(name):
            raise GenesisError(f"chaincode name {name!r} must match "
                               + USER_CHAINCODE_NAME.pattern)
    if len(set(names)) != len(names):
        raise GenesisError("a chaincode name appears twice")
    upgrade_policy = raw.get("upgrade_policy", {})
    if not isinstance(upgrade_policy, dict):
        raise GenesisError("upgrade_policy must be an object")
    policy = upgrade_policy.get("min_organisations", 1)
    if not isinstance(policy, int) or policy < 1:
        raise GenesisError("upgrade_policy.min_organisations must be a positive integer")
    if orgs and policy > len(orgs):
        raise GenesisError("upgrade_policy.min_organisations exceeds the number of orgs")
    validator_org = raw.get("validator_org", "")
    if not isinstance(validator_org, str):
        raise GenesisError("validator_org must be an organisation id")
    if validator_org and validator_org not in seen_orgs:
        raise GenesisError(f"validator_org {validator_org!r} is not a genesis organisation")
    return Genesis(orgs, chaincodes, policy, bool(raw.get("open_access", False)),
                   validator_org)
