"""Check that a block header was signed by a network's validators, as CometBFT signs it.

The explorer proves a key's value against the app hash in a block header. A header read
from one node is only that node's word; this module checks the header against the commit
CometBFT keeps for it (``/commit?height=H``): the header's hash is recomputed from its
fields, must be the block id the commit signs, and each precommit signature is checked with
ed25519 against the validators the caller already knows (the platform's own records of the
network's validator keys, never the node's answer). A node can then only show a header
that more than two thirds of those validators signed.

Written here rather than taken from a library: no maintained Python package verifies
CometBFT commits (the light clients are Go and Rust). The encodings follow CometBFT 0.38
(``types/block.go`` ``Header.Hash``, ``types/canonical.go``, ``crypto/merkle``): the
generated protobuf types of ``ledger/proto/gen`` and Google's wrapper types serialise the
fields exactly as gogoproto does (proto3 omits zero scalars; non-nullable messages are
always present).
"""

from __future__ import annotations

import base64
import binascii
import calendar
import hashlib
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from google.protobuf import timestamp_pb2, wrappers_pb2

from ledger.proto.gen.tendermint.types import canonical_pb2, types_pb2
from ledger.proto.gen.tendermint.version import types_pb2 as version_pb2

PRECOMMIT = 2  # SignedMsgType
FLAG_COMMIT = 2  # BlockIDFlag: the signature is for the committed block
_TIME_RE = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?Z")


class LightError(ValueError):
    """The header or commit is malformed, or they do not belong together."""


@dataclass(frozen=True)
class SignedHeader:
    height: int
    app_hash: str  # upper-case hex, as CometBFT prints it
    signed: tuple[str, ...]  # addresses of the known validators whose signatures verify
    known: int  # how many validators the caller knows

    @property
    def trusted(self) -> bool:
        """More than two thirds of the known validators signed this header."""
        return 3 * len(self.signed) > 2 * self.known


def address_of(public_key: bytes) -> str:
    """A validator's address: the first 20 bytes of SHA-256 of its ed25519 key (hex)."""
    return hashlib.sha256(public_key).digest()[:20].hex().upper()


def merkle_root(items: list[bytes]) -> bytes:
    """RFC 6962 tree hash (CometBFT ``merkle.HashFromByteSlices``)."""
    if not items:
        return hashlib.sha256(b"").digest()
    if len(items) == 1:
        return hashlib.sha256(b"\x00" + items[0]).digest()
    split = 1
    while split * 2 < len(items):
        split *= 2
    return hashlib.sha256(b"\x01" + merkle_root(items[:split])
                          + merkle_root(items[split:])).digest()


def _hex(value: Any, what: str) -> bytes:
    if not isinstance(value, str):
        raise LightError(f"{what} is not hex")
    try:
        return binascii.unhexlify(value)
    except (binascii.Error, ValueError):
        raise LightError(f"{what} is not hex") from None


def _int(value: Any, what: str, *, low: int = 0, high: int = 2**63 - 1) -> int:
    """A number as CometBFT's JSON prints it (a string, or a JSON number), within the
    range of its protobuf type (``high``: int64 by default; uint32 for part counts)."""
    if isinstance(value, bool) or not isinstance(value, (int, str)) \
            or not re.fullmatch(r"-?\d{1,20}", str(value)) or not low <= int(value) <= high:
        raise LightError(f"{what} is not a number in range")
    return int(value)


def _timestamp(value: Any, what: str) -> timestamp_pb2.Timestamp:
    found = _TIME_RE.fullmatch(value) if isinstance(value, str) else None
    try:
        if not found:
            raise ValueError(value)
        seconds = calendar.timegm(time.strptime(found.group(1), "%Y-%m-%dT%H:%M:%S"))
    except (ValueError, OverflowError):  # no such date (2024-02-30), year 0
        raise LightError(f"{what} is not an RFC 3339 UTC time") from None
    return timestamp_pb2.Timestamp(seconds=seconds,
                                   nanos=int((found.group(2) or "0").ljust(9, "0")))


def _block_id(value: Any, what: str) -> types_pb2.BlockID:
    if not isinstance(value, Mapping) or not isinstance(value.get("parts"), Mapping):
        raise LightError(f"{what} is malformed")
    block_id = types_pb2.BlockID(hash=_hex(value.get("hash"), what))
    block_id.part_set_header.SetInParent()  # non-nullable: encoded even when empty
    block_id.part_set_header.total = _int(value["parts"].get("total"), what, high=2**32 - 1)
    block_id.part_set_header.hash = _hex(value["parts"].get("hash"), what)
    return block_id


def header_hash(header: Mapping[str, Any]) -> bytes:
    """``Header.Hash()``: the Merkle root of the header's 14 fields, each serialised."""
    try:
        version = header["version"]
        fields = [
            version_pb2.Consensus(block=_int(version["block"], "version", high=2**64 - 1),
                                  app=_int(version.get("app", 0), "version", high=2**64 - 1))
            .SerializeToString(),
            wrappers_pb2.StringValue(value=str(header["chain_id"])).SerializeToString(),
            wrappers_pb2.Int64Value(value=_int(header["height"], "height"))
            .SerializeToString(),
            _timestamp(header["time"], "time").SerializeToString(),
            _block_id(header["last_block_id"], "last_block_id").SerializeToString(),
        ]
        for name in ("last_commit_hash", "data_hash", "validators_hash",
                     "next_validators_hash", "consensus_hash", "app_hash",
                     "last_results_hash", "evidence_hash", "proposer_address"):
            fields.append(wrappers_pb2.BytesValue(value=_hex(header[name], name))
                          .SerializeToString())
    except (KeyError, TypeError, ValueError) as exc:
        raise LightError(f"the header is malformed: {type(exc).__name__}") from None
    return merkle_root(fields)


def vote_sign_bytes(*, chain_id: str, height: int, round_: int,
                    block_id: types_pb2.BlockID, timestamp: timestamp_pb2.Timestamp) -> bytes:
    """What a validator signs for a precommit (``VoteSignBytes``): the length-delimited
    ``CanonicalVote``."""
    vote = canonical_pb2.CanonicalVote(type=PRECOMMIT, height=height, round=round_,
                                       chain_id=chain_id)
    vote.block_id.hash = block_id.hash
    vote.block_id.part_set_header.SetInParent()
    vote.block_id.part_set_header.total = block_id.part_set_header.total
    vote.block_id.part_set_header.hash = block_id.part_set_header.hash
    vote.timestamp.CopyFrom(timestamp)
    body = vote.SerializeToString()
    size, prefix = len(body), bytearray()
    while True:  # the varint length prefix of protoio.MarshalDelimited
        byte, size = size & 0x7F, size >> 7
        prefix.append(byte | (0x80 if size else 0))
        if not size:
            return bytes(prefix) + body


def check_signed_header(signed_header: Any, *, chain_id: str,
                        validators: Mapping[str, bytes]) -> SignedHeader:
    """Check ``/commit``'s ``signed_header`` against ``validators`` (address -> ed25519
    public key, the validators the caller trusts). ``LightError`` when the header is not
    the one the commit signs, belongs to another chain, or either is malformed (whatever
    shape a node's answer has: never another exception); otherwise which known validators
    signed it (``trusted`` says whether that is enough)."""
    try:
        return _check(signed_header, chain_id=chain_id, validators=validators)
    except LightError:
        raise
    except (ValueError, TypeError, KeyError, AttributeError, OverflowError) as exc:
        raise LightError(f"the signed header is malformed: {type(exc).__name__}") from None


def _check(signed_header: Any, *, chain_id: str,
           validators: Mapping[str, bytes]) -> SignedHeader:
    if not isinstance(signed_header, Mapping):
        raise LightError("the signed header is malformed")
    header, commit = signed_header.get("header"), signed_header.get("commit")
    if not isinstance(header, Mapping) or not isinstance(commit, Mapping):
        raise LightError("the signed header is malformed")
    if header.get("chain_id") != chain_id:
        raise LightError("the header is of another chain")
    height = _int(header.get("height"), "height", low=1)
    if _int(commit.get("height"), "commit height") != height:
        raise LightError("the commit is for another height")
    block_id = _block_id(commit.get("block_id"), "block_id")
    if header_hash(header) != block_id.hash:
        raise LightError("the header is not the block the commit signs")
    round_ = _int(commit.get("round"), "round", high=2**31 - 1)
    signatures = commit.get("signatures")
    if not isinstance(signatures, list):
        raise LightError("the commit's signatures are malformed")
    signed: list[str] = []
    for sig in signatures:
        if not isinstance(sig, Mapping) or sig.get("block_id_flag") != FLAG_COMMIT:
            continue  # absent, or a vote for nil: no signature for this block
        address = str(sig.get("validator_address") or "").upper()
        key = validators.get(address)
        if key is None or address in signed:
            continue  # not a validator the caller knows: its signature counts for nothing
        try:
            message = vote_sign_bytes(chain_id=chain_id, height=height, round_=round_,
                                      block_id=block_id,
                                      timestamp=_timestamp(sig.get("timestamp"), "timestamp"))
            Ed25519PublicKey.from_public_bytes(key).verify(
                base64.b64decode(str(sig.get("signature") or ""), validate=True), message)
        except (InvalidSignature, LightError, ValueError, binascii.Error):
            continue
        signed.append(address)
    return SignedHeader(height=height, app_hash=str(header.get("app_hash") or "").upper(),
                        signed=tuple(signed), known=len(validators))
