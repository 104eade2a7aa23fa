"""did:baas rules shared by the ``_did`` system chaincode and the host's ``ctx.did_*`` calls.

The method is specified in ``docs/did-method.md``. This module holds what both sides must
agree on byte for byte: identifier syntax, the suffix derivation, the controller-signed
message, state validation and the key layout in the ``_did`` key space:

- ``config`` -> ``{"namespace": <ns> | null, "dids": <count>}``
- ``did/<suffix>`` -> head: ``{"did", "version", "created", "updated", "deactivated"}``
- ``did/<suffix>/v/<10-digit version>`` -> a version record, written once, never changed:
  ``{"did", "version", "state", "deactivated", "updated", "height", "tx", "key", "sig"}``

It depends on nothing but the canonical encoding and errors, so ``ledger.contract`` can use
it without importing the system chaincode package (which imports ``ledger.contract``).
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable
from typing import Any

from ledger import canonical
from ledger.ed25519 import is_valid_public_key
from ledger.errors import Code, LedgerError

DID_DOMAIN = b"ledger/did/v1\x00"
# The prefix of every domain the ledger signs under (tx, query, membership, did): messages
# chaincode asks ``did_verify`` about may not start with it.
LEDGER_DOMAINS = b"ledger/"
MAX_STATE_BYTES = 8 * 1024
MAX_METHODS = 16
MAX_SERVICES = 16
MAX_ID_CHARS = 64
MAX_SERVICE_TYPE_CHARS = 64
MAX_ENDPOINT_CHARS = 512
MAX_VERSIONS = 1000
MAX_DIDS = 1_000_000
MAX_DID_URL_CHARS = 512  # what ctx.did_resolve / ctx.did_verify accept at all
MAX_MESSAGE_BYTES = 64 * 1024  # ctx.did_verify
VERSION_DIGITS = 10

# \Z, not $: "$" also matches before a trailing newline ("key-1\n" would pass).
NAMESPACE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?\Z")
SUFFIX = re.compile(r"^[a-z2-7]{26}\Z")
ID = re.compile(r"^[A-Za-z0-9._-]{1,64}\Z")
HEX64 = re.compile(r"^[0-9a-f]{64}\Z")
HEX128 = re.compile(r"^[0-9a-f]{128}\Z")
DID_URL = re.compile(r"^did:baas:([a-z0-9-]{1,32}):([a-z2-7]{26})(?:#(.*))?\Z", re.S)
OTHER_DID = re.compile(r"^did:[a-z0-9]+:.+\Z", re.S)

RELATIONSHIPS = ("authentication", "assertionMethod", "capabilityInvocation",
                 "capabilityDelegation", "keyAgreement")
SIGNING_RELATIONSHIPS = frozenset(RELATIONSHIPS) - {"keyAgreement"}
STATE_KEYS = frozenset({"verificationMethod", "service", *RELATIONSHIPS})
METHOD_KEYS = frozenset({"id", "type", "publicKey"})
SERVICE_KEYS = frozenset({"id", "type", "serviceEndpoint"})
KEY_TYPES = frozenset({"Ed25519", "X25519"})
OPS = ("create", "update", "deactivate")
OP_KEYS = frozenset({"did", "op", "prev", "state", "key", "sig"})

CONFIG_KEY = "config"


def head_key(suffix: str) -> str:
    return f"did/{suffix}"


def version_key(suffix: str, version: int) -> str:
    return f"did/{suffix}/v/{version:0{VERSION_DIGITS}d}"


def derive_suffix(public_key_bytes: bytes) -> str:
    """The self-certifying suffix of an initial Ed25519 key: lower-case unpadded base32 of
    the first 16 bytes of its SHA-256 (26 characters)."""
    digest = hashlib.sha256(bytes(public_key_bytes)).digest()[:16]
    return base64.b32encode(digest).decode("ascii").rstrip("=").lower()


def op_message(chain_id: str, did: str, op: str, prev: int, state: Any) -> bytes:
    """The bytes a controller key signs for one operation (domain, chain, DID, version)."""
    body = {"chain_id": chain_id, "did": did, "op": op, "prev": prev, "state": state}
    return DID_DOMAIN + canonical.encode(body)


def _bad(message: str) -> LedgerError:
    return LedgerError(Code.INVALID_ARGUMENT, message)


def _ids(state: dict[str, Any], name: str, keys: frozenset[str],
         limit: int) -> list[dict[str, Any]]:
    items = state.get(name, [])
    if not isinstance(items, list) or len(items) > limit:
        raise _bad(f"{name} must be a list of at most {limit} entries")
    for item in items:
        if not isinstance(item, dict) or set(item) != keys:
            raise _bad(f"each {name} entry has exactly the keys {sorted(keys)}")
        if not isinstance(item["id"], str) or not ID.match(item["id"]):
            raise _bad(f"{name} ids must match {ID.pattern}")
    return items


def _check_method(method: dict[str, Any]) -> None:
    if not isinstance(method["type"], str) or method["type"] not in KEY_TYPES:
        raise _bad("verificationMethod type must be Ed25519 or X25519")
    key = method["publicKey"]
    if not isinstance(key, str) or not HEX64.match(key):
        raise _bad("publicKey must be 64 lower-case hex characters")
    if method["type"] == "Ed25519" and not is_valid_public_key(bytes.fromhex(key)):
        raise _bad(f"publicKey of {method['id']!r} is not a usable Ed25519 key (not on "
                   "the curve, not canonical, or of small order)")


def _check_service(service: dict[str, Any]) -> None:
    kind, url = service["type"], service["serviceEndpoint"]
    if not isinstance(kind, str) or not 0 < len(kind) <= MAX_SERVICE_TYPE_CHARS:
        raise _bad(f"service type must be a string of 1..{MAX_SERVICE_TYPE_CHARS} characters")
    if (not isinstance(url, str) or len(url) > MAX_ENDPOINT_CHARS
            or not url.startswith(("https://", "http://"))
            or url.split("://", 1)[1][:1] in ("", "/")  # a host must follow the scheme
            or any(ord(c) <= 0x20 or 0x7F <= ord(c) <= 0x9F for c in url)):
        raise _bad(f"serviceEndpoint must be an https:// or http:// URL of at most "
                   f"{MAX_ENDPOINT_CHARS} characters without spaces or control characters")


def validate_state(state: Any) -> dict[str, Any]:
    """Check a DID state against the method's rules; returns it unchanged (it is stored and
    signed as given). Raises LedgerError: RESOURCE_LIMIT for size, else INVALID_ARGUMENT."""
    if not isinstance(state, dict):
        raise _bad("state must be a JSON object")
    try:
        size = len(canonical.encode(state))
    except canonical.CanonicalError as exc:
        raise _bad(f"state is not canonical JSON: {exc}") from None
    if size > MAX_STATE_BYTES:
        raise LedgerError(Code.RESOURCE_LIMIT,
                          f"state is {size} bytes, at most {MAX_STATE_BYTES}")
    unknown = set(state) - STATE_KEYS
    if unknown:
        raise _bad(f"state has unknown keys {sorted(unknown)}")
    methods = _ids(state, "verificationMethod", METHOD_KEYS, MAX_METHODS)
    services = _ids(state, "service", SERVICE_KEYS, MAX_SERVICES)
    if not methods:
        raise _bad("verificationMethod needs at least one entry")
    ids = [m["id"] for m in methods] + [s["id"] for s in services]
    if len(set(ids)) != len(ids):
        raise _bad("ids must be unique among verification methods and services")
    for method in methods:
        _check_method(method)
    for service in services:
        _check_service(service)
    types = {m["id"]: m["type"] for m in methods}
    for name in RELATIONSHIPS:
        refs = state.get(name, [])
        if not isinstance(refs, list) or any(not isinstance(r, str) for r in refs):
            raise _bad(f"{name} must be a list of verification method ids")
        if len(set(refs)) != len(refs):
            raise _bad(f"{name} lists a method twice")
        for ref in refs:
            if ref not in types:
                raise _bad(f"{name} names {ref[:64]!r}, which is no verification method")
            if (types[ref] == "X25519") != (name == "keyAgreement"):
                raise _bad("X25519 keys appear only in keyAgreement, and keyAgreement "
                           "lists only X25519 keys")
    if not state.get("capabilityInvocation"):
        raise _bad("capabilityInvocation needs at least one Ed25519 key: without one "
                   "nobody could ever update or deactivate the DID")
    return state


def controller_key(state: dict[str, Any], key_id: Any) -> bytes | None:
    """The raw public key of ``key_id`` if the state lists it in capabilityInvocation."""
    if key_id not in state.get("capabilityInvocation", []):
        return None
    for method in state["verificationMethod"]:
        if method["id"] == key_id:
            return bytes.fromhex(method["publicKey"])
    return None


def signing_keys(state: dict[str, Any], relationship: str,
                 fragment: str | None) -> list[bytes]:
    """Raw Ed25519 keys of ``relationship`` (only ``fragment``'s, when given)."""
    listed = set(state.get(relationship, []))
    return [bytes.fromhex(m["publicKey"]) for m in state["verificationMethod"]
            if m["id"] in listed and m["type"] == "Ed25519"
            and (fragment is None or m["id"] == fragment)]


# -- resolution (one function for _did.resolve and ctx.did_resolve) ----------------------
Getter = Callable[[str], Any]  # reads a key of the _did key space, parsed (None if absent)


def _at_time(get: Getter, suffix: str, versions: int, version_time: int) -> int:
    """The last version written at or before ``version_time`` (0 if none): a binary search,
    as block times never decrease from one version to the next."""
    low, high = 0, versions  # invariant: version `low` is at or before, `high + 1` after
    while low < high:
        middle = (low + high + 1) // 2
        if get(version_key(suffix, middle))["updated"] <= version_time:
            low = middle
        else:
            high = middle - 1
    return low


def resolve_record(get: Getter, suffix: str, *, version_id: Any = None,
                   version_time: Any = None) -> dict[str, Any]:
    """The ``_did.resolve`` record of one version (the latest unless one is picked);
    raises LedgerError NOT_FOUND / INVALID_ARGUMENT."""
    if not isinstance(suffix, str) or not SUFFIX.match(suffix):
        raise _bad("did must be the 26-character base32 suffix of a did:baas identifier")
    for name, value, low in (("version_id", version_id, 1), ("version_time", version_time, 0)):
        if value is not None and (type(value) is not int or value < low):
            raise _bad(f"{name} must be an integer of at least {low}")
    if version_id is not None and version_time is not None:
        raise _bad("give version_id or version_time, not both")
    head = get(head_key(suffix))
    if head is None:
        raise LedgerError(Code.NOT_FOUND, f"no DID with suffix {suffix}")
    versions = head["version"]
    version = versions if version_id is None else version_id
    if version_time is not None:
        version = _at_time(get, suffix, versions, version_time)
    if not 1 <= version <= versions:
        raise LedgerError(Code.NOT_FOUND, "no such version of this DID")
    record = get(version_key(suffix, version))
    later = get(version_key(suffix, version + 1)) if version < versions else None
    config = get(CONFIG_KEY) or {}
    return {
        "did": suffix, "namespace": config.get("namespace"), "version": version,
        "versions": versions, "state": record["state"],
        "deactivated": record["deactivated"], "created": head["created"],
        "updated": record["updated"],
        "next_updated": None if later is None else later["updated"],
        "height": record["height"], "tx": record["tx"],
        "state_key": version_key(suffix, version),
    }


def parse_did_url(value: Any, *, fragment: bool) -> tuple[str | None, str, str | None]:
    """(namespace, suffix, fragment) of a did:baas DID (URL); namespace None for a DID of
    another method. Raises INVALID_ARGUMENT for anything malformed."""
    if not isinstance(value, str) or not 0 < len(value) <= MAX_DID_URL_CHARS:
        raise _bad(f"a DID must be a string of at most {MAX_DID_URL_CHARS} characters")
    if not value.startswith("did:baas:"):
        if not OTHER_DID.match(value):
            raise _bad("not a DID")
        return None, "", None
    match = DID_URL.match(value)
    if match is None or not NAMESPACE.match(match[1]):
        raise _bad("malformed did:baas identifier")
    if match[3] is not None and (not fragment or not ID.match(match[3])):
        raise _bad("a fragment names a verification method id" if fragment
                   else "a DID, not a DID URL, is expected here")
    return match[1], match[2], match[3]
