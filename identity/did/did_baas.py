"""did:baas: DIDs anchored on a ledger network of this platform (docs/did-method.md).

    did:baas:<namespace>:<suffix>

This module is pure: it parses identifiers, renders a DID document and its metadata from a
record of the ``_did`` system chaincode (``_did.resolve``), signs the operations a
controller sends (create, update, deactivate) and checks a state proof. Reading the chain
is somebody else's job: ``BaasMethod`` takes a *reader*, a callable the Django side
(``identity.ledger_reader``) or a test provides::

    reader(namespace, suffix, version_id=None, version_time=None, proof=False) -> record

which returns the ``_did.resolve`` record (plus ``"proof"`` when asked) or raises
``identity.did.errors.NotFound``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from cryptography.hazmat.primitives.asymmetric import ed25519

from identity.did.did_key import DID_V1, ED25519, MULTIKEY_V1, X25519, multikey_encode
from identity.did.errors import DidError, InvalidDid, InvalidDidUrl, NotFound
from identity.did.syntax import DidUrl, parse_did
from ledger.system.did import derive_suffix, op_message, validate_state

METHOD = "baas"
PREFIX = "did:baas:"
NAMESPACE_RE = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?")
SUFFIX_RE = re.compile(r"[a-z2-7]{26}")
RELATIONSHIPS = (
    "authentication",
    "assertionMethod",
    "capabilityInvocation",
    "capabilityDelegation",
    "keyAgreement",
)
KEY_TYPES = {"Ed25519": ED25519, "X25519": X25519}
DEFAULT_KEY_ID = "key-1"
INT64_MAX = 2**63 - 1
# The DID parameters this method answers (docs/did-method.md, "Syntax").
PARAMETERS = ("versionId", "versionTime", "service")

__all__ = [
    "BaasMethod",
    "Deactivated",
    "create_op",
    "deactivate_op",
    "default_state",
    "derive_suffix",
    "did_for",
    "op_message",
    "parse_did_baas",
    "render",
    "update_op",
    "validate_state",
]


class Deactivated(DidError):
    """Not an error of DID Resolution (deactivation is metadata); raised by nothing here,
    named so callers can map ``deactivated: true`` to HTTP 410 in one place."""

    error = "deactivated"


# -- identifiers ---------------------------------------------------------------------------


def parse_did_baas(did: str) -> tuple[str, str]:
    """``did:baas:<ns>:<suffix>`` -> (namespace, suffix); ``InvalidDid`` otherwise."""
    parsed = parse_did(did)
    if parsed.method != METHOD:
        raise InvalidDid(f"not a did:baas: method {parsed.method!r}")
    namespace, sep, suffix = parsed.method_specific_id.partition(":")
    if not sep:
        raise InvalidDid("a did:baas is did:baas:<namespace>:<suffix>")
    if not NAMESPACE_RE.fullmatch(namespace):
        raise InvalidDid(
            f"namespace {namespace[:40]!r} is not 1 to 32 of a-z, 0-9 and inner '-'"
        )
    if not SUFFIX_RE.fullmatch(suffix):
        raise InvalidDid(
            "the suffix is 26 lower-case base32 characters (a-z, 2-7), "
            f"not {suffix[:40]!r}"
        )
    return namespace, suffix


def did_for(namespace: str, public_key_bytes: bytes) -> str:
    """The did:baas that the Ed25519 public key ``public_key_bytes`` creates."""
    did = f"{PREFIX}{namespace}:{derive_suffix(public_key_bytes)}"
    parse_did_baas(did)
    return did


# -- rendering -----------------------------------------------------------------------------


def rfc3339(ns: int) -> str:
    """Integer nanoseconds since the epoch -> ``2026-12-05T00:00:00Z`` (UTC, seconds)."""
    return datetime.fromtimestamp(int(ns) // 1_000_000_000, tz=UTC).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )


# RFC 3339 date-time: "." is the only fraction separator (ISO 8601's "," is not RFC 3339,
# though datetime.fromisoformat takes it), and the offset is required.
RFC3339_RE = re.compile(
    r"([0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2})(?:\.([0-9]{1,9})[0-9]*)?"
    r"([Zz]|[+-][0-9]{2}:[0-9]{2})")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _rfc3339_parts(text: str) -> tuple[int, bool]:
    """(integer nanoseconds, whether a fraction was written) of an RFC 3339 time."""
    match = RFC3339_RE.fullmatch(text.strip())
    if match is None:
        raise InvalidDidUrl(f"versionTime {text[:40]!r} is not an RFC 3339 time with a "
                            "time zone (for example 2026-12-05T00:00:00Z)")
    whole, fraction, offset = match.groups()
    try:
        moment = datetime.fromisoformat(whole + ("+00:00" if offset in "Zz" else offset))
    except ValueError:
        raise InvalidDidUrl(f"versionTime {text[:40]!r} is not an RFC 3339 time") from None
    # Whole seconds by exact integer arithmetic, the fraction added on top: int(timestamp())
    # truncated toward zero, which moved a time before 1970 with a fraction by a second.
    seconds = (moment - EPOCH) // timedelta(seconds=1)
    nanos = int(fraction.ljust(9, "0")) if fraction else 0
    return seconds * 1_000_000_000 + nanos, fraction is not None


def parse_rfc3339(text: str) -> int:
    """``versionTime`` -> integer nanoseconds (block time is UTC; an offset is honoured,
    a time without one is refused; a fraction keeps up to nanoseconds)."""
    return _rfc3339_parts(text)[0]


def _method(did: str, method: dict[str, Any]) -> dict[str, Any]:
    key_type = KEY_TYPES[method["type"]]
    return {
        "id": f"{did}#{method['id']}",
        "type": "Multikey",
        "controller": did,
        "publicKeyMultibase": multikey_encode(key_type, bytes.fromhex(method["publicKey"])),
    }


def render_document(did: str, state: dict[str, Any]) -> dict[str, Any]:
    """The DID document of ``state`` (the chain's form) for ``did``."""
    document: dict[str, Any] = {
        "@context": [DID_V1, MULTIKEY_V1],
        "id": did,
        "verificationMethod": [_method(did, m) for m in state.get("verificationMethod", [])],
    }
    for relationship in RELATIONSHIPS:
        ids = state.get(relationship) or []
        if ids:
            document[relationship] = [f"{did}#{i}" for i in ids]
    services = state.get("service") or []
    if services:
        document["service"] = [
            {"id": f"{did}#{s['id']}", "type": s["type"], "serviceEndpoint": s["serviceEndpoint"]}
            for s in services
        ]
    return document


def render_metadata(record: dict[str, Any]) -> dict[str, Any]:
    """DID document metadata of a ``_did.resolve`` record."""
    metadata: dict[str, Any] = {
        "created": rfc3339(record["created"]),
        "updated": rfc3339(record["updated"]),
        "versionId": str(record["version"]),
    }
    if record.get("next_updated") is not None:
        metadata["nextUpdate"] = rfc3339(record["next_updated"])
        metadata["nextVersionId"] = str(int(record["version"]) + 1)
    if record.get("deactivated"):
        metadata["deactivated"] = True
    return metadata


def render(did: str, record: dict[str, Any]) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """(document or None when deactivated, document metadata) of a ``_did.resolve`` record."""
    state = record.get("state")
    document = None if record.get("deactivated") or state is None else render_document(
        did, state)
    return document, render_metadata(record)


# -- operations a controller signs ---------------------------------------------------------


def _private_key(key: ed25519.Ed25519PrivateKey | bytes) -> ed25519.Ed25519PrivateKey:
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key
    if isinstance(key, bytes | bytearray) and len(key) == 32:
        return ed25519.Ed25519PrivateKey.from_private_bytes(bytes(key))
    raise TypeError("an Ed25519 private key (or its raw 32 bytes) signs a did:baas operation")


def _public_hex(key: ed25519.Ed25519PrivateKey) -> str:
    from identity.did.did_key import public_key_raw

    return public_key_raw(key.public_key()).hex()


def _suffix_of(did: str) -> str:
    """A full did:baas or a bare suffix -> the suffix."""
    if did.startswith(PREFIX):
        return parse_did_baas(did)[1]
    if not SUFFIX_RE.fullmatch(did):
        raise InvalidDid(f"{did[:60]!r} is neither a did:baas nor a suffix")
    return did


def default_state(public_key_hex: str, key_id: str = DEFAULT_KEY_ID) -> dict[str, Any]:
    """One Ed25519 key in authentication, assertionMethod and capabilityInvocation."""
    return {
        "verificationMethod": [{"id": key_id, "type": "Ed25519", "publicKey": public_key_hex}],
        "authentication": [key_id],
        "assertionMethod": [key_id],
        "capabilityInvocation": [key_id],
    }


def signed_op(*, did: str, op: str, prev: int, state: dict[str, Any] | None, key_id: str,
              signature: bytes | str) -> dict[str, Any]:
    """The argument of ``_did.<op>`` with a signature made elsewhere (holder custody: the
    holder signs ``op_message(...)`` in a browser or a wallet)."""
    sig = signature.hex() if isinstance(signature, bytes | bytearray) else signature
    return {"did": _suffix_of(did), "op": op, "prev": prev, "state": state, "key": key_id,
            "sig": sig}


def sign_op(signer_private_key: ed25519.Ed25519PrivateKey | bytes, chain_id: str, *, did: str,
            op: str, prev: int, state: dict[str, Any] | None,
            key_id: str = DEFAULT_KEY_ID) -> dict[str, Any]:
    suffix = _suffix_of(did)
    message = op_message(chain_id, suffix, op, prev, state)
    signature = _private_key(signer_private_key).sign(message)
    return signed_op(did=suffix, op=op, prev=prev, state=state, key_id=key_id,
                     signature=signature)


def create_op(signer_private_key: ed25519.Ed25519PrivateKey | bytes, chain_id: str,
              state: dict[str, Any] | None = None,
              key_id: str = DEFAULT_KEY_ID) -> dict[str, Any]:
    """The signed ``_did.create`` argument. The suffix derives from the signer's public key,
    which must be the method ``key_id`` of ``state`` (default: ``default_state``)."""
    key = _private_key(signer_private_key)
    public_hex = _public_hex(key)
    if state is None:
        state = default_state(public_hex, key_id)
    suffix = derive_suffix(bytes.fromhex(public_hex))
    return sign_op(key, chain_id, did=suffix, op="create", prev=0, state=state, key_id=key_id)


def update_op(signer_private_key: ed25519.Ed25519PrivateKey | bytes, chain_id: str, did: str,
              prev: int, state: dict[str, Any],
              key_id: str = DEFAULT_KEY_ID) -> dict[str, Any]:
    """The signed ``_did.update`` argument: ``state`` replaces the whole state; ``key_id``
    names a ``capabilityInvocation`` key of the *current* version, held by the signer."""
    return sign_op(signer_private_key, chain_id, did=did, op="update", prev=prev, state=state,
                   key_id=key_id)


def deactivate_op(signer_private_key: ed25519.Ed25519PrivateKey | bytes, chain_id: str,
                  did: str, prev: int, key_id: str = DEFAULT_KEY_ID) -> dict[str, Any]:
    return sign_op(signer_private_key, chain_id, did=did, op="deactivate", prev=prev,
                   state=None, key_id=key_id)


# -- state proofs --------------------------------------------------------------------------


def state_key(record: dict[str, Any]) -> bytes:
    """The full store key of a version record (``_did/`` + its ``state_key``)."""
    return b"_did/" + str(record["state_key"]).encode()


def check_proof(*, key: bytes, value: bytes, proof: dict[str, Any], app_hash: bytes) -> bool:
    """Whether ``proof`` (``/state`` with ``prove=true``) shows ``value`` at ``key`` under
    ``app_hash``: the app hash must come from a block header (block H+1), never from the
    proof itself, which the node wrote."""
    from ledger.state import verify_proof

    try:
        return verify_proof(key=key, value=value, proof=proof, app_hash=app_hash)
    except (KeyError, TypeError, ValueError):
        return False


# -- the method, behind the resolver -------------------------------------------------------


class Reader(Protocol):
    def __call__(self, namespace: str, suffix: str, *, version_id: int | None = None,
                 version_time: int | None = None,
                 proof: bool = False) -> dict[str, Any]: ...


def version_time_ns(text: str) -> int:
    """``versionTime`` -> the latest nanosecond it names. Metadata times are whole seconds
    (``updated`` of a version written at 12:00:00.4 reads 12:00:00), so a time without a
    fraction means the whole second: ``?versionTime=<a version's updated>`` finds it."""
    ns, has_fraction = _rfc3339_parts(text)
    ns = ns if has_fraction else ns + 999_999_999
    # Block times are signed 64-bit nanoseconds: a later time means "the latest version".
    return min(ns, INT64_MAX)


def _version_id(text: str) -> int:
    if not re.fullmatch(r"[1-9][0-9]{0,9}", text):
        raise InvalidDidUrl(f"versionId is a version number from 1, not {text[:20]!r}")
    return int(text)


class BaasMethod:
    """did:baas for ``identity.did.resolver``: reads through ``reader``."""

    name = METHOD

    def __init__(self, reader: Reader | Callable[..., dict[str, Any]]) -> None:
        self.reader = reader

    def resolve(self, parsed: DidUrl, options: dict[str, Any]) -> dict[str, Any]:
        """``{"document", "metadata", "resolution"}`` for ``parsed`` (a DID or DID URL)."""
        namespace, suffix = parse_did_baas(parsed.did)
        if parsed.path:
            raise NotFound(f"did:baas has no resources at paths ({parsed.path[:40]!r})")
        names = [name for name, _ in parsed.query]
        unknown = [n for n in names if n not in PARAMETERS]
        if unknown:
            raise NotFound(f"did:baas has no DID parameter {unknown[0][:40]!r}")
        if len(names) != len(set(names)):
            raise InvalidDidUrl("a DID parameter is given twice")
        version_id = parsed.param("versionId")
        version_time = parsed.param("versionTime")
        if version_id is not None and version_time is not None:
            raise InvalidDidUrl("give versionId or versionTime, not both")
        record = self.reader(
            namespace, suffix,
            version_id=_version_id(version_id) if version_id is not None else None,
            version_time=version_time_ns(version_time) if version_time is not None else None,
            proof=bool(options.get("proof")),
        )
        document, metadata = render(parsed.did, record)
        resolution: dict[str, Any] = {}
        if record.get("proof") is not None:
            resolution["proof"] = record["proof"]
        service = parsed.param("service")
        content = None
        if service is not None:
            if document is None:
                raise NotFound(f"{parsed.did} is deactivated: it has no services")
            for entry in document.get("service", []):
                if entry["id"] == f"{parsed.did}#{service}":
                    content = entry
                    break
            else:
                raise NotFound(f"{parsed.did} has no service {service[:64]!r}")
        return {"document": document, "metadata": metadata, "resolution": resolution,
                "content": content}
