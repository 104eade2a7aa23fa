"""Ed25519 public keys as DID keys: the point checks, and verification that never raises.

A DID state stores raw public keys that anyone may write; ``_did`` refuses a key that is
not a usable Ed25519 key when it is written, so verifiers never meet one later. "Usable"
is RFC 8032 decoding (a canonical y below p with a matching x: a point on the curve) plus
"not of small order": a small-order key (the identity point among them) accepts forged
signatures, so a DID listing one could be controlled by anybody.

Everything here is integer arithmetic on Python ints, the same on every node.
"""

from __future__ import annotations

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

P = 2**255 - 19
D = -121665 * pow(121666, P - 2, P) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)


def _decode_x(y: int, sign: int) -> int | None:
    """RFC 8032 5.1.3 step 2-4: x for y (None when y is on no point of the curve)."""
    u, v = (y * y - 1) % P, (D * y * y + 1) % P
    x = u * pow(v, 3, P) * pow(u * pow(v, 7, P), (P - 5) // 8, P) % P
    if v * x * x % P == u:
        pass
    elif v * x * x % P == -u % P:
        x = x * SQRT_M1 % P
    else:
        return None
    if x == 0 and sign:
        return None
    return P - x if x & 1 != sign else x


def _add(a: tuple[int, int, int, int],
         b: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    """Point addition in extended coordinates (RFC 8032 5.1.4; complete for Ed25519)."""
    x1, y1, z1, t1 = a
    x2, y2, z2, t2 = b
    p_a, p_b = (y1 - x1) * (y2 - x2) % P, (y1 + x1) * (y2 + x2) % P
    p_c, p_d = 2 * t1 * t2 * D % P, 2 * z1 * z2 % P
    e, f, g, h = p_b - p_a, p_d - p_c, p_d + p_c, p_b + p_a
    return e * f % P, g * h % P, f * g % P, e * h % P


def is_valid_public_key(key: bytes) -> bool:
    """Whether ``key`` (32 bytes) decodes to a curve point that is not of small order."""
    if len(key) != 32:
        return False
    number = int.from_bytes(key, "little")
    y, sign = number & ((1 << 255) - 1), number >> 255
    if y >= P:  # a non-canonical encoding: two byte strings would name one key
        return False
    x = _decode_x(y, sign)
    if x is None:
        return False
    point = (x, y, 1, x * y % P)
    for _ in range(3):  # 8 * point: the identity exactly for the small-order points
        point = _add(point, point)
    return point[0] % P != 0 or (point[1] - point[2]) % P != 0


def verify(public_key: bytes, signature: bytes, message: bytes) -> bool:
    """Whether ``signature`` is ``public_key``'s Ed25519 signature over ``message``."""
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True
