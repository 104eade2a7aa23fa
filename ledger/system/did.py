"""``_did``: the did:baas verifiable data registry of a network (``docs/did-method.md``).

Writes: ``create(op)``, ``update(op)``, ``deactivate(op)`` (any signer allowed to transact:
authority comes from the controller signature inside ``op``, not from the tx signer) and
``set_namespace(namespace)`` (an admin of a governing organisation, once). Reads:
``resolve(did, version_id=None, version_time=None)`` and ``config()``.

The key layout, the signed message and the state rules live in ``ledger.did_core`` (the
host's ``ctx.did_resolve``/``ctx.did_verify`` read the same records); the helpers clients
need are re-exported here.

Every refusal raises before the first write, so a refused operation changes nothing.
"""

from __future__ import annotations

from typing import Any

from ledger import ed25519
from ledger.did_core import (
    CONFIG_KEY,
    HEX128,
    ID,
    MAX_DIDS,
    MAX_METHODS,
    MAX_STATE_BYTES,
    MAX_VERSIONS,
    NAMESPACE,
    OP_KEYS,
    SUFFIX,
    controller_key,
    derive_suffix,
    head_key,
    op_message,
    resolve_record,
    validate_state,
    version_key,
)
from ledger.errors import Code, LedgerError
from ledger.system.base import SystemChaincode, SystemContext, governing_org

__all__ = ["MAX_DIDS", "MAX_STATE_BYTES", "MAX_VERSIONS", "NAME", "derive_suffix",
           "did_chaincode", "op_message", "validate_state"]

NAME = "_did"
# Host work charged on top of the reads and writes (which ctx charges itself): measured
# like the cost table's other entries (bench/sandbox_cost.py baseline, ~0.4 µs a step).
SIGNATURE_STEPS = 250  # one Ed25519 verification (~90 µs)
KEY_CHECK_STEPS = 300  # decoding a key and checking its order (~120 µs, Python integers)
did_chaincode = SystemChaincode(NAME)


def _bad(message: str) -> LedgerError:
    return LedgerError(Code.INVALID_ARGUMENT, message)


def _op(value: Any, kind: str) -> dict[str, Any]:
    """The operation's shape (its state is checked separately)."""
    if not isinstance(value, dict) or set(value) != OP_KEYS:
        raise _bad(f"op must be an object with exactly the keys {sorted(OP_KEYS)}")
    if value["op"] != kind:
        raise _bad(f"_did.{kind} takes an op with \"op\": \"{kind}\"")
    if not isinstance(value["did"], str) or not SUFFIX.match(value["did"]):
        raise _bad("did must be the 26-character base32 suffix")
    prev = value["prev"]
    if type(prev) is not int or prev < 0:
        raise _bad("prev must be a non-negative integer")
    if not isinstance(value["key"], str) or not ID.match(value["key"]):
        raise _bad("key must be a verification method id")
    if not isinstance(value["sig"], str) or not HEX128.match(value["sig"]):
        raise _bad("sig must be 128 lower-case hex characters")
    if (value["state"] is None) != (kind == "deactivate"):
        raise _bad("deactivate takes state null; create and update take a state")
    return value


def _config(ctx: SystemContext) -> dict[str, Any]:
    return ctx.get(CONFIG_KEY) or {"namespace": None, "dids": 0}


def _valid_state(ctx: SystemContext, state: Any) -> dict[str, Any]:
    """validate_state, after paying for the key checks it may do (one per method)."""
    methods = state.get("verificationMethod") if isinstance(state, dict) else None
    if isinstance(methods, list):
        ctx.charge(KEY_CHECK_STEPS * min(len(methods), MAX_METHODS))
    return validate_state(state)


def _authorise(ctx: SystemContext, key: bytes | None, op: dict[str, Any],
               version: int) -> None:
    """The controller signature: by ``key``, over this op on this DID version and chain."""
    if key is None:
        raise LedgerError(Code.UNAUTHORIZED,
                          f"key {op['key']!r} is not a capabilityInvocation key of version "
                          f"{version} of the DID")
    ctx.charge(SIGNATURE_STEPS)
    message = op_message(ctx.host.chain_id, op["did"], op["op"], op["prev"], op["state"])
    if not ed25519.verify(key, bytes.fromhex(op["sig"]), message):
        raise LedgerError(Code.UNAUTHORIZED, f"sig is not a signature of key {op['key']!r} "
                          "over this operation (ledger.system.did.op_message)")


def _write(ctx: SystemContext, op: dict[str, Any], version: int,
           created: int) -> dict[str, Any]:
    suffix, deactivated = op["did"], op["state"] is None
    ctx.put(version_key(suffix, version), {
        "did": suffix, "version": version, "state": op["state"], "deactivated": deactivated,
        "updated": ctx.block_time, "height": ctx.block_height, "tx": ctx.tx_hash,
        "key": op["key"], "sig": op["sig"],
    })
    ctx.put(head_key(suffix), {"did": suffix, "version": version, "created": created,
                               "updated": ctx.block_time, "deactivated": deactivated})
    event = {"create": "did_created", "update": "did_updated"}.get(op["op"], "did_deactivated")
    ctx.emit(event, did=suffix, version=str(version))
    return resolve_record(ctx.get, suffix)


@did_chaincode.write
def create(ctx: SystemContext, op: Any) -> dict[str, Any]:
    """Register a DID whose suffix derives from the key that signs (version 1)."""
    op = _op(op, "create")
    if op["prev"] != 0:
        raise _bad("prev must be 0 for create")
    config = _config(ctx)
    if config["namespace"] is None:
        raise _bad("this network has no DID namespace yet (_did.set_namespace)")
    state = _valid_state(ctx, op["state"])
    if ctx.has(head_key(op["did"])):
        raise _bad("a DID with this suffix exists (a suffix is never reused)")
    if config["dids"] >= MAX_DIDS:
        raise LedgerError(Code.RESOURCE_LIMIT, f"this network holds {MAX_DIDS} DIDs, "
                          "the most it may")
    key = controller_key(state, op["key"])
    if key is not None and derive_suffix(key) != op["did"]:
        raise LedgerError(Code.UNAUTHORIZED, "did is not the suffix derived from the "
                          f"public key of {op['key']!r} (derive_suffix)")
    _authorise(ctx, key, op, 1)
    ctx.put(CONFIG_KEY, {**config, "dids": config["dids"] + 1})
    return _write(ctx, op, 1, ctx.block_time)


def _change(ctx: SystemContext, value: Any, kind: str) -> dict[str, Any]:
    """update / deactivate: signed by a capabilityInvocation key of the current version."""
    op = _op(value, kind)
    head = ctx.get(head_key(op["did"]))
    if head is None:
        raise LedgerError(Code.NOT_FOUND, f"no DID with suffix {op['did']}")
    if head["deactivated"]:
        raise _bad("the DID is deactivated: no operation applies to it any more")
    current = head["version"]
    if op["prev"] != current:
        raise _bad(f"prev {op['prev']} is not the current version {current}")
    # The last version is kept for a deactivation, so a DID can always be shut down.
    if current >= (MAX_VERSIONS - 1 if kind == "update" else MAX_VERSIONS):
        raise LedgerError(Code.RESOURCE_LIMIT, f"a DID has at most {MAX_VERSIONS} versions "
                          "(the last one only for deactivate)")
    if kind == "update":
        _valid_state(ctx, op["state"])
    state = ctx.get(version_key(op["did"], current))["state"]
    _authorise(ctx, controller_key(state, op["key"]), op, current)
    return _write(ctx, op, current + 1, head["created"])


@did_chaincode.write
def update(ctx: SystemContext, op: Any) -> dict[str, Any]:
    """Replace the state (rotate keys, change relationships and services)."""
    return _change(ctx, op, "update")


@did_chaincode.write
def deactivate(ctx: SystemContext, op: Any) -> dict[str, Any]:
    """Final: writes a version without a state; every later operation is refused."""
    return _change(ctx, op, "deactivate")


@did_chaincode.write
def set_namespace(ctx: SystemContext, namespace: Any) -> dict[str, Any]:
    """Name the network in did:baas identifiers; once, by a governing organisation."""
    governing_org(ctx)  # who may, before anything else
    if not isinstance(namespace, str) or not NAMESPACE.match(namespace):
        raise _bad("namespace must be 1..32 of a-z, 0-9 and '-', not starting or ending "
                   "with '-'")
    config = _config(ctx)
    if config["namespace"] is not None:
        raise _bad(f"the namespace is already {config['namespace']!r}; it never changes")
    config = {**config, "namespace": namespace}
    ctx.put(CONFIG_KEY, config)
    ctx.emit("did_namespace_set", namespace=namespace)
    return config


@did_chaincode.read
def resolve(ctx: SystemContext, did: Any, version_id: Any = None,
            version_time: Any = None) -> dict[str, Any]:
    """One version of a DID (the latest, ``version_id``, or the last at ``version_time``)."""
    return resolve_record(ctx.get, did, version_id=version_id, version_time=version_time)


@did_chaincode.read
def config(ctx: SystemContext) -> dict[str, Any]:
    return _config(ctx)
