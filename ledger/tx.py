"""The signed transaction envelope: encoding, signing, decoding.

Encoding: canonical JSON (see ``ledger/canonical.py``) of one object::

    {"args": <array|object>, "chain_id": str, "chaincode": str, "function": str,
     "nonce": <32 hex>, "sig": <128 hex>, "signer": <64 hex>, "time_ms": int, "v": 1}

The signature is ed25519 over ``SIGN_DOMAIN + canonical(envelope without "sig")``. The
domain prefix keeps a tx signature from ever being valid as some other signed message.

Replay protection is a random nonce plus the signing time: the application refuses a tx
whose ``time_ms`` is outside a window around the block time, and remembers the hash of every
signed body it committed until that window has passed. A signer can therefore send many
transactions concurrently (no per-signer sequence to race on), and the replay set stays
bounded by the traffic of one window instead of growing forever.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from ledger import canonical
from ledger.errors import Code, TxError

VERSION = 1
SIGN_DOMAIN = b"ledger/tx/v1\x00"
MAX_TX_BYTES = 256 * 1024  # chaincode installs carry their source in the tx
MAX_ARGS_DEPTH = 8
MAX_CHAIN_ID = 64

CHAINCODE_NAME = re.compile(r"^_?[a-z][a-z0-9_]{0,63}$")
FUNCTION_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
HEX64 = re.compile(r"^[0-9a-f]{64}$")
HEX128 = re.compile(r"^[0-9a-f]{128}$")
NONCE = re.compile(r"^[0-9a-f]{16,64}$")

FIELDS = frozenset(
    {"v", "chain_id", "chaincode", "function", "args", "signer", "nonce", "time_ms", "sig"}
)


class Signer:
    """An ed25519 key pair that signs transactions."""

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._key = private_key
        self.public_key_bytes = private_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )

    @classmethod
    def generate(cls) -> Signer:
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_private_bytes(cls, data: bytes) -> Signer:
        if len(data) != 32:
            raise ValueError("an ed25519 private key is 32 bytes")
        return cls(Ed25519PrivateKey.from_private_bytes(data))

    def private_bytes(self) -> bytes:
        return self._key.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )

    @property
    def public_key_hex(self) -> str:
        return self.public_key_bytes.hex()

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message)

    def __repr__(self) -> str:  # never print the private key
        return f"Signer({self.public_key_hex})"


@dataclass(frozen=True)
class Transaction:
    version: int
    chain_id: str
    chaincode: str
    function: str
    args: list[Any] | dict[str, Any]
    signer: str  # hex public key
    nonce: str
    time_ms: int
    signature: str  # hex
    raw: bytes

    @cached_property
    def hash(self) -> str:
        return tx_hash(self.raw)

    @cached_property
    def sign_bytes(self) -> bytes:
        return SIGN_DOMAIN + canonical.encode(self._body())

    @cached_property
    def body_hash(self) -> str:
        """Hash of what was signed: the replay-set key (independent of signature bytes)."""
        return hashlib.sha256(self.sign_bytes).hexdigest()

    def _body(self) -> dict[str, Any]:
        return {
            "v": self.version,
            "chain_id": self.chain_id,
            "chaincode": self.chaincode,
            "function": self.function,
            "args": self.args,
            "signer": self.signer,
            "nonce": self.nonce,
            "time_ms": self.time_ms,
        }

    def verify_signature(self) -> None:
        key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(self.signer))
        try:
            key.verify(bytes.fromhex(self.signature), self.sign_bytes)
        except InvalidSignature:
            raise TxError(Code.BAD_SIGNATURE, "signature does not match signer") from None


MEMBERSHIP_DOMAIN = b"ledger/membership/v1\x00"


def membership_message(chain_id: str, org: str, public_key_hex: str) -> bytes:
    """What a key signs to show it agrees to join ``org`` on ``chain_id``."""
    return MEMBERSHIP_DOMAIN + "\x00".join((chain_id, org, public_key_hex)).encode()


def membership_proof(signer: Signer, chain_id: str, org: str) -> str:
    """Proof of possession for ``_identity.add_member`` / ``add_org``: the new key's own
    signature over the chain and the organisation, so nobody can register a key it does
    not hold (for instance one copied from a pending proposal) as a member of its own."""
    return signer.sign(membership_message(chain_id, org, signer.public_key_hex)).hex()


def verify_membership_proof(chain_id: str, org: str, public_key_hex: str, proof: Any) -> bool:
    if not isinstance(proof, str) or not HEX128.match(proof):
        return False
    key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_key_hex))
    try:
        key.verify(bytes.fromhex(proof), membership_message(chain_id, org, public_key_hex))
    except InvalidSignature:
        return False
    return True


def tx_hash(data: bytes) -> str:
    """Hex SHA-256 of the encoded tx: the hash CometBFT reports for it."""
    return hashlib.sha256(data).hexdigest()


def build_tx(
    *,
    signer: Signer,
    chain_id: str,
    chaincode: str,
    function: str,
    args: list[Any] | dict[str, Any] | None = None,
    nonce: str | None = None,
    time_ms: int | None = None,
) -> bytes:
    """Encode and sign a transaction, ready for broadcast."""
    body: dict[str, Any] = {
        "v": VERSION,
        "chain_id": chain_id,
        "chaincode": chaincode,
        "function": function,
        "args": [] if args is None else args,
        "signer": signer.public_key_hex,
        "nonce": os.urandom(16).hex() if nonce is None else nonce,
        "time_ms": int(time.time() * 1000) if time_ms is None else time_ms,
    }
    _check_body(body)
    signature = signer.sign(SIGN_DOMAIN + canonical.encode(body))
    data = canonical.encode({**body, "sig": signature.hex()})
    if len(data) > MAX_TX_BYTES:
        raise TxError(Code.TX_TOO_LARGE, f"tx is {len(data)} bytes, limit {MAX_TX_BYTES}")
    return data


def decode_tx(data: bytes, *, verify: bool = True) -> Transaction:
    """Parse and (by default) verify a transaction; raises TxError with a stable code."""
    if len(data) > MAX_TX_BYTES:
        raise TxError(Code.TX_TOO_LARGE, f"tx is {len(data)} bytes, limit {MAX_TX_BYTES}")
    try:
        obj = canonical.decode(data, max_depth=MAX_ARGS_DEPTH + 1)
    except canonical.CanonicalError as exc:
        raise TxError(Code.MALFORMED_TX, f"tx is not canonical JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise TxError(Code.MALFORMED_TX, "tx must be a JSON object")
    if set(obj) != FIELDS:
        missing = sorted(FIELDS - set(obj))
        extra = sorted(set(obj) - FIELDS)
        raise TxError(Code.MALFORMED_TX, f"tx fields wrong: missing {missing}, unknown {extra}")
    sig = obj.pop("sig")
    _check_body(obj)
    if not isinstance(sig, str) or not HEX128.match(sig):
        raise TxError(Code.MALFORMED_TX, "sig must be 128 lowercase hex characters")
    tx = Transaction(
        version=obj["v"],
        chain_id=obj["chain_id"],
        chaincode=obj["chaincode"],
        function=obj["function"],
        args=obj["args"],
        signer=obj["signer"],
        nonce=obj["nonce"],
        time_ms=obj["time_ms"],
        signature=sig,
        raw=data,
    )
    if verify:
        tx.verify_signature()
    return tx


def _check_body(body: dict[str, Any]) -> None:
    def bad(message: str) -> TxError:
        return TxError(Code.MALFORMED_TX, message)

    if body["v"] != VERSION or isinstance(body["v"], bool):
        raise bad(f"unsupported tx version {body['v']!r}")
    chain_id = body["chain_id"]
    if not isinstance(chain_id, str) or not 0 < len(chain_id) <= MAX_CHAIN_ID:
        raise bad(f"chain_id must be a string of 1..{MAX_CHAIN_ID} characters")
    if not isinstance(body["chaincode"], str) or not CHAINCODE_NAME.match(body["chaincode"]):
        raise bad("chaincode name must match " + CHAINCODE_NAME.pattern)
    if not isinstance(body["function"], str) or not FUNCTION_NAME.match(body["function"]):
        raise bad("function name must match " + FUNCTION_NAME.pattern)
    if not isinstance(body["args"], (list, dict)):
        raise bad("args must be a JSON array or object")
    try:
        canonical.check_value(body["args"], max_depth=MAX_ARGS_DEPTH)
    except canonical.CanonicalError as exc:
        raise bad(f"args: {exc}") from None
    if not isinstance(body["signer"], str) or not HEX64.match(body["signer"]):
        raise bad("signer must be a 64-character lowercase hex ed25519 public key")
    if not isinstance(body["nonce"], str) or not NONCE.match(body["nonce"]):
        raise bad("nonce must be 16..64 lowercase hex characters")
    time_ms = body["time_ms"]
    if not isinstance(time_ms, int) or isinstance(time_ms, bool) or time_ms < 0:
        raise bad("time_ms must be a non-negative integer")


# -- signed queries ------------------------------------------------------------------------
# A query that runs a @read function as someone carries their signature, in the same shape
# as a transaction but under its own domain, so neither can be replayed as the other. The
# node checks it against its own clock (queries are local, not consensus): a captured
# signed query stays usable for QUERY_WINDOW_MS at most.
QUERY_DOMAIN = b"ledger/query/v1\x00"
QUERY_WINDOW_MS = 5 * 60 * 1000


@dataclass(frozen=True)
class SignedQuery:
    chain_id: str
    chaincode: str
    function: str
    args: list[Any] | dict[str, Any]
    signer: str  # hex public key, verified
    nonce: str
    time_ms: int


def build_query(
    *,
    signer: Signer,
    chain_id: str,
    chaincode: str,
    function: str,
    args: list[Any] | dict[str, Any] | None = None,
    nonce: str | None = None,
    time_ms: int | None = None,
) -> bytes:
    """The ``data`` of a signed ``/call`` query: the function runs with ``signer`` as caller."""
    body: dict[str, Any] = {
        "v": VERSION,
        "chain_id": chain_id,
        "chaincode": chaincode,
        "function": function,
        "args": [] if args is None else args,
        "signer": signer.public_key_hex,
        "nonce": os.urandom(16).hex() if nonce is None else nonce,
        "time_ms": int(time.time() * 1000) if time_ms is None else time_ms,
    }
    _check_body(body)
    signature = signer.sign(QUERY_DOMAIN + canonical.encode(body))
    data = canonical.encode({**body, "sig": signature.hex()})
    if len(data) > MAX_TX_BYTES:
        raise TxError(Code.TX_TOO_LARGE, f"query is {len(data)} bytes, limit {MAX_TX_BYTES}")
    return data


def decode_query(data: bytes, *, chain_id: str, now_ms: int) -> SignedQuery:
    """Parse and verify a signed query; raises TxError (BAD_SIGNATURE, WRONG_CHAIN,
    TX_EXPIRED, MALFORMED_TX)."""
    tx = decode_tx(data, verify=False)
    key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(tx.signer))
    try:
        key.verify(bytes.fromhex(tx.signature), QUERY_DOMAIN + canonical.encode(tx._body()))
    except InvalidSignature:
        raise TxError(Code.BAD_SIGNATURE, "query signature does not match signer") from None
    if tx.chain_id != chain_id:
        raise TxError(Code.WRONG_CHAIN, f"query is for chain {tx.chain_id!r}")
    if abs(tx.time_ms - now_ms) > QUERY_WINDOW_MS:
        raise TxError(Code.TX_EXPIRED, f"query time is more than {QUERY_WINDOW_MS} ms "
                      "from the node's clock")
    return SignedQuery(chain_id=tx.chain_id, chaincode=tx.chaincode, function=tx.function,
                       args=tx.args, signer=tx.signer, nonce=tx.nonce, time_ms=tx.time_ms)
