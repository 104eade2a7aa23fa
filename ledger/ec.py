"""The secp256k1 group for chaincode cryptography (elections): points, scalars, transcripts.

Chaincode that runs zero-knowledge proofs (the voting template's encrypted ballots) needs
group operations that sandboxed Python could not do fast enough: one scalar multiplication
in pure Python costs milliseconds, and a ballot needs dozens. The host does them in
libsecp256k1 (through ``coincurve``), tens of microseconds each, and charges fixed step
costs (``ledger.contract``).

Why secp256k1: a prime-order group (cofactor 1: every point that decodes is in the group,
so no subgroup check can be forgotten), about 128-bit security, one of the most used and
audited implementations in C (libsecp256k1) and in browsers (``@noble/curves``), and
33-byte points. Both implementations are deterministic integer arithmetic: every node gets
the same answer.

Encodings (the same in state, arguments, transcripts and the browser):

- a **point** is its 33-byte SEC 1 compressed form (``02``/``03`` then x), or the single
  byte ``00`` for the identity (the point at infinity); in JSON, lower-case hex. Nothing
  else decodes: no uncompressed form, no x at or above the field prime.
- a **scalar** is an integer in ``[0, ORDER)``; in JSON, 64 lower-case hex digits.
- a **transcript hash** (``challenge``) is SHA-256 over the domain (UTF-8), a zero byte,
  and then every part as a 4-byte big-endian length and its bytes, read as a big-endian
  integer and reduced modulo ``ORDER``. A part is text (its UTF-8 bytes), a point (its
  lower-case hex *as text*, so chaincode can pass the hex it holds), or a non-negative
  integer below 2**256 (32 big-endian bytes).

libsecp256k1 cannot hold the identity in a public key, so ``Point`` wraps ``None`` for it
and the operations handle it here (an encryption of 0, a tally of no votes, and a proof's
simulated commitment can all meet it).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from coincurve import PublicKey

#: the order of the group (the number of points): scalars live modulo it
ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
#: the field prime: an x at or above it is not a point
FIELD = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFC2F
POINT_BYTES = 33
SCALAR_HEX = 64
IDENTITY_BYTES = b"\x00"
MAX_TRANSCRIPT_PART = 1 << 20  # bytes of one part: a length prefix is 4 bytes


class GroupError(ValueError):
    """A point or scalar that does not decode, or an operation given a wrong type."""


class Point:
    """A point of secp256k1, immutable, known by its encoding; the libsecp256k1 key is made
    from it when an operation first needs it (a negation or a comparison needs none)."""

    __slots__ = ("_key", "_raw")

    def __init__(self, key: PublicKey | None, raw: bytes) -> None:
        self._key = key
        self._raw = raw

    @property
    def is_identity(self) -> bool:
        return self._raw == IDENTITY_BYTES

    def _public_key(self) -> PublicKey | None:
        """The libsecp256k1 key (None for the identity); ``_raw`` was checked when made."""
        if self._key is None and self._raw != IDENTITY_BYTES:
            self._key = PublicKey(self._raw)
        return self._key

    def to_bytes(self) -> bytes:
        return self._raw

    def hex(self) -> str:
        return self._raw.hex()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Point) and other._raw == self._raw

    def __hash__(self) -> int:
        return hash(self._raw)

    def __repr__(self) -> str:
        return f"Point({self._raw.hex()})"


IDENTITY = Point(None, IDENTITY_BYTES)


def _wrap(key: PublicKey) -> Point:
    return Point(key, key.format(compressed=True))


def decode(data: bytes) -> Point:
    """The point encoded by ``data`` (33 compressed bytes, or ``00``); GroupError otherwise."""
    if not isinstance(data, bytes | bytearray):
        raise GroupError("a point is bytes")
    data = bytes(data)
    if data == IDENTITY_BYTES:
        return IDENTITY
    if len(data) != POINT_BYTES or data[0] not in (2, 3):
        raise GroupError("a point is 33 bytes starting with 02 or 03, or the byte 00")
    if int.from_bytes(data[1:], "big") >= FIELD:
        raise GroupError("a point's x must be below the field prime")
    try:
        key = PublicKey(data)
    except ValueError:
        raise GroupError("not a point of secp256k1") from None
    return Point(key, data)


def from_hex(text: str) -> Point:
    """The point written as lower-case hex (66 digits, or ``00``)."""
    if not isinstance(text, str) or len(text) not in (2, 2 * POINT_BYTES):
        raise GroupError("a point is 66 hex digits, or 00 for the identity")
    if text != text.lower():
        raise GroupError("a point is lower-case hex")
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raise GroupError("a point is hex") from None
    return decode(raw)


def scalar_from_hex(text: str) -> int:
    """The scalar written as 64 lower-case hex digits; it must be below ORDER."""
    if not isinstance(text, str) or len(text) != SCALAR_HEX or text != text.lower():
        raise GroupError("a scalar is 64 lower-case hex digits")
    if not all(c in "0123456789abcdef" for c in text):
        raise GroupError("a scalar is hex")
    value = int(text, 16)
    if value >= ORDER:
        raise GroupError("a scalar must be below the group order")
    return value


def scalar_hex(value: int) -> str:
    return f"{value % ORDER:064x}"


def _scalar(k: int) -> int:
    if not isinstance(k, int) or isinstance(k, bool):
        raise GroupError("a scalar is an integer")
    return k % ORDER


def _point(p: Point) -> Point:
    if not isinstance(p, Point):
        raise GroupError("expected a point")
    return p


GENERATOR = decode(bytes.fromhex(
    "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"))


def add(*points: Point) -> Point:
    """The sum of the points (the identity for none)."""
    keys = [k for k in (p._public_key() for p in map(_point, points)) if k is not None]
    if not keys:
        return IDENTITY
    if len(keys) == 1:
        return _wrap(keys[0])
    try:
        return _wrap(PublicKey.combine_keys(keys))
    except ValueError:  # libsecp256k1 refuses only a sum that is the point at infinity
        return IDENTITY


def neg(p: Point) -> Point:
    """-P: the same x with the other y (flip the parity byte)."""
    p = _point(p)
    if p.is_identity:
        return IDENTITY
    return Point(None, bytes([p._raw[0] ^ 1]) + p._raw[1:])


def sub(p: Point, q: Point) -> Point:
    return add(p, neg(q))


def mul(k: int, p: Point) -> Point:
    """k·P."""
    k, p = _scalar(k), _point(p)
    if k == 0 or p.is_identity:
        return IDENTITY
    return _wrap(p._public_key().multiply(k.to_bytes(32, "big")))


def base_mul(k: int) -> Point:
    """k·G (libsecp256k1's precomputed tables for G: faster than ``mul``)."""
    k = _scalar(k)
    if k == 0:
        return IDENTITY
    return _wrap(PublicKey.from_secret(k.to_bytes(32, "big")))


def lincomb(pairs: Iterable[tuple[int, Point]]) -> Point:
    """Σ kᵢ·Pᵢ."""
    return add(*(mul(k, p) for k, p in pairs))


def small_multiple(m: int) -> Point:
    """m·G for a small signed integer (a vote count; negative for the other y)."""
    if not isinstance(m, int) or isinstance(m, bool):
        raise GroupError("a count is an integer")
    return neg(base_mul(-m)) if m < 0 else base_mul(m)


def _part(value: object) -> bytes:
    if isinstance(value, Point):
        return value.hex().encode("ascii")
    if isinstance(value, bool):
        raise GroupError("a transcript part is a point, a scalar, bytes or text")
    if isinstance(value, int):
        if not 0 <= value < 1 << 256:
            raise GroupError("a transcript integer is in [0, 2**256)")
        return value.to_bytes(32, "big")
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    raise GroupError("a transcript part is a point, a scalar, bytes or text")


def transcript(domain: str, *parts: object) -> bytes:
    """SHA-256 over ``domain``, a zero byte, and every part length-prefixed (4 bytes, big
    endian): points as their hex text, integers as 32 big-endian bytes, text as UTF-8."""
    if not isinstance(domain, str) or "\x00" in domain:
        raise GroupError("a domain is text without a zero character")
    h = hashlib.sha256(domain.encode("utf-8") + b"\x00")
    for value in parts:
        raw = _part(value)
        if len(raw) > MAX_TRANSCRIPT_PART:
            raise GroupError("a transcript part is at most 1 MiB")
        h.update(len(raw).to_bytes(4, "big"))
        h.update(raw)
    return h.digest()


def challenge(domain: str, *parts: object) -> int:
    """The Fiat-Shamir challenge: ``transcript(...)`` as a big-endian integer mod ORDER."""
    return int.from_bytes(transcript(domain, *parts), "big") % ORDER

