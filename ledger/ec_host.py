"""``ctx.ec``: the secp256k1 group (``ledger.ec``) for chaincode, charged to the step meter.

Chaincode sees points as lower-case hex text (66 digits, or ``"00"`` for the identity) and
scalars as integers; the host decodes, computes in libsecp256k1 and answers hex again::

    t = ctx.ec.lincomb([[s, ctx.ec.G], [-c, public]])        # sG - cX
    ok = c == ctx.ec.challenge("baas-vote/v1/trustee-key", [eh, trustee, public, t])

- ``ORDER`` (int), ``G`` (hex), ``IDENTITY`` (``"00"``);
- ``is_point(x)``, ``is_scalar(x)``: booleans, never a refusal (``False`` for other types);
- ``scalar(hex)``: the integer of 64 lower-case hex digits below ORDER;
- ``add(*points)``, ``neg(p)``, ``sub(p, q)``, ``mul(k, p)``, ``base_mul(k)``,
  ``lincomb([[k, p], ...])``, ``small(m)`` (m·G for |m| <= 2**40): hex;
- ``challenge(domain, parts)`` (int mod ORDER) and ``transcript(domain, parts)`` (64 hex):
  ``ledger.ec.transcript`` with parts that are text (a point's hex is text: the same bytes)
  or integers in [0, 2**256).

An integer scalar given to an operation may be negative or above ORDER (it is reduced
modulo ORDER, so ``-c`` is fine) but at most 512 bits. Costs are fixed by the shape of the
arguments (how many points, scalars, parts and bytes) and charged before any decoding or
arithmetic, so a call costs the same whatever its outcome. A wrong type, a point or scalar
that does not decode, or a list over its cap is host misuse: a sticky refusal
(``INVALID_ARGUMENT``) that catching does not undo, like every other host call's.
Costs are calibrated by ``bench/sandbox_ec.py``.
"""

from __future__ import annotations

from typing import Any

from ledger import ec
from ledger.errors import Code, LedgerError
from ledger.sandbox.runtime import Exposed, Meter

# Step costs (bench/sandbox_ec.py: libsecp256k1 through coincurve, ~0.3-0.45 us a step).
EC_POINT_COST = 20  # decoding one point (a square root in the field), hex checked first
EC_ADD_COST = 12  # one point added to a sum; covers the sum's normalisation and encoding
EC_MUL_COST = 100  # one scalar multiplication (a full-size scalar: the worst case)
EC_SCALAR_COST = 8  # checking/decoding one 64-digit scalar
EC_HASH_COST = 8  # one transcript: SHA-256 set-up and the answer
EC_PART_COST = 3  # per transcript part: its type check, length prefix and update call
EC_BYTES_PER_STEP = 64  # transcript bytes hashed per step (as ctx's BYTES_PER_STEP)

MAX_ADD = 256  # points in one add()
MAX_LINCOMB = 64  # [k, p] pairs in one lincomb()
MAX_PARTS = 256  # parts of one transcript
MAX_TRANSCRIPT_BYTES = 64 * 1024  # UTF-8 bytes of all parts of one transcript
MAX_DOMAIN = 256  # characters of a transcript domain
MAX_SCALAR_BITS = 512  # an operation's integer scalar, before reduction modulo ORDER
MAX_SMALL = 1 << 40  # small(m): |m| at most this
INT_PART_BYTES = 32


class EcHost(Exposed):
    """The host object chaincode reaches as ``ctx.ec`` (one per call, bound to its meter)."""

    EXPOSED = frozenset({
        "ORDER", "G", "IDENTITY", "is_point", "is_scalar", "scalar", "add", "neg", "sub",
        "mul", "base_mul", "lincomb", "small", "challenge", "transcript",
    })
    ORDER = ec.ORDER
    G = ec.GENERATOR.hex()
    IDENTITY = ec.IDENTITY.hex()

    def __init__(self, meter: Meter) -> None:
        self._meter = meter

    # -- helpers (host side) -----------------------------------------------------------
    def _refuse(self, message: str) -> LedgerError:
        return self._meter.trip(Code.INVALID_ARGUMENT, f"ec: {message}")

    def _point(self, value: Any, what: str = "point") -> ec.Point:
        if type(value) is not str:
            raise self._refuse(f"a {what} is hex text (66 lower-case digits, or 00)")
        try:
            return ec.from_hex(value)
        except ec.GroupError as err:
            raise self._refuse(f"invalid {what}: {err}") from None

    def _int(self, value: Any, what: str = "scalar") -> int:
        if type(value) is not int:
            raise self._refuse(f"a {what} is an integer")
        if value.bit_length() > MAX_SCALAR_BITS:
            raise self._refuse(f"a {what} is at most {MAX_SCALAR_BITS} bits")
        return value % ec.ORDER

    def _count(self, items: Any, cap: int, what: str) -> int:
        if type(items) not in (list, tuple):
            raise self._refuse(f"{what} must be a list")
        if len(items) > cap:
            raise self._refuse(f"at most {cap} {what}")
        return len(items)

    # -- checks --------------------------------------------------------------------------
    def is_point(self, value: Any) -> bool:
        """Whether ``value`` is the hex of a point (``False`` for anything else)."""
        self._meter.step(EC_POINT_COST)
        if type(value) is not str:
            return False
        try:
            ec.from_hex(value)
        except ec.GroupError:
            return False
        return True

    def is_scalar(self, value: Any) -> bool:
        """Whether ``value`` is 64 lower-case hex digits below ORDER."""
        self._meter.step(EC_SCALAR_COST)
        try:
            ec.scalar_from_hex(value)
        except ec.GroupError:
            return False
        return True

    def scalar(self, value: Any) -> int:
        """The integer written as 64 lower-case hex digits (below ORDER); refused otherwise."""
        self._meter.step(EC_SCALAR_COST)
        try:
            return ec.scalar_from_hex(value)
        except ec.GroupError as err:
            raise self._refuse(f"invalid scalar: {err}") from None

    # -- group operations --------------------------------------------------------------
    def add(self, *points: Any) -> str:
        """The sum of the points (``"00"`` for none)."""
        n = self._count(points, MAX_ADD, "points to add")
        self._meter.step(n * (EC_POINT_COST + EC_ADD_COST))
        return ec.add(*[self._point(p) for p in points]).hex()

    def neg(self, p: Any) -> str:
        """-P (decodes P and its mirror image)."""
        self._meter.step(2 * EC_POINT_COST)
        return ec.neg(self._point(p)).hex()

    def sub(self, p: Any, q: Any) -> str:
        """P - Q."""
        self._meter.step(3 * EC_POINT_COST + 2 * EC_ADD_COST)
        a, b = self._point(p), self._point(q)
        return ec.sub(a, b).hex()

    def mul(self, k: Any, p: Any) -> str:
        """k·P."""
        self._meter.step(EC_POINT_COST + EC_MUL_COST)
        scalar, point = self._int(k), self._point(p)
        return ec.mul(scalar, point).hex()

    def base_mul(self, k: Any) -> str:
        """k·G."""
        self._meter.step(EC_MUL_COST)
        return ec.base_mul(self._int(k)).hex()

    def lincomb(self, pairs: Any) -> str:
        """Σ kᵢ·Pᵢ over ``[[k, p], ...]`` (at most MAX_LINCOMB pairs)."""
        n = self._count(pairs, MAX_LINCOMB, "[scalar, point] pairs")
        self._meter.step(n * (EC_POINT_COST + EC_MUL_COST + EC_ADD_COST))
        terms = []
        for pair in pairs:
            if type(pair) not in (list, tuple) or len(pair) != 2:
                raise self._refuse("lincomb takes [scalar, point] pairs")
            terms.append((self._int(pair[0]), self._point(pair[1])))
        return ec.lincomb(terms).hex()

    def small(self, m: Any) -> str:
        """m·G for a signed integer |m| <= 2**40 (a count)."""
        self._meter.step(EC_MUL_COST)
        if type(m) is not int or not -MAX_SMALL <= m <= MAX_SMALL:
            raise self._refuse("small() takes an integer of at most 2**40 in absolute value")
        return ec.small_multiple(m).hex()

    # -- transcripts ---------------------------------------------------------------------
    def _transcript(self, domain: Any, parts: Any) -> bytes:
        meter = self._meter
        if type(domain) is not str or not 0 < len(domain) <= MAX_DOMAIN or "\x00" in domain:
            raise self._refuse(f"a domain is text of 1..{MAX_DOMAIN} characters without NUL")
        n = self._count(parts, MAX_PARTS, "transcript parts")
        # sizes from lengths before anything is encoded: a character is at least one byte
        size = len(domain)
        for part in parts:
            kind = type(part)
            if kind is str:
                size += len(part)
            elif kind is int:
                size += INT_PART_BYTES
            else:
                size = -1
                break
            if size > MAX_TRANSCRIPT_BYTES:
                break
        meter.step(EC_HASH_COST + n * EC_PART_COST + max(size, 0) // EC_BYTES_PER_STEP)
        if size < 0:
            raise self._refuse("a transcript part is text or an integer")
        if size > MAX_TRANSCRIPT_BYTES:
            raise self._refuse(f"a transcript is at most {MAX_TRANSCRIPT_BYTES} bytes")
        encoded = []
        total = 0
        for part in parts:
            if type(part) is str:
                try:
                    raw = part.encode("utf-8")
                except UnicodeEncodeError:
                    raise self._refuse("a transcript part is valid UTF-8") from None
                encoded.append(raw)
                total += len(raw)
            else:
                if not 0 <= part < 1 << 256:
                    raise self._refuse("a transcript integer is in [0, 2**256)")
                encoded.append(part)
        try:
            domain.encode("utf-8")
        except UnicodeEncodeError:
            raise self._refuse("a domain is valid UTF-8") from None
        extra = total - sum(len(p) for p in parts if type(p) is str)  # multi-byte characters
        if extra:
            if size + extra > MAX_TRANSCRIPT_BYTES:
                raise self._refuse(f"a transcript is at most {MAX_TRANSCRIPT_BYTES} bytes")
            meter.step((size + extra) // EC_BYTES_PER_STEP - size // EC_BYTES_PER_STEP)
        return ec.transcript(domain, *encoded)

    def challenge(self, domain: Any, parts: Any) -> int:
        """``ledger.ec.challenge(domain, *parts)``: the transcript as an integer mod ORDER."""
        return int.from_bytes(self._transcript(domain, parts), "big") % ec.ORDER

    def transcript(self, domain: Any, parts: Any) -> str:
        """``ledger.ec.transcript(domain, *parts)`` as 64 hex digits."""
        return self._transcript(domain, parts).hex()
