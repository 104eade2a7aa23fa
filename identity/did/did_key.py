"""did:key (W3C CCG did:key v0.9): a public key is the identifier.

    did:key:<multibase base58btc "z" of (varint multicodec || raw public key)>

Supported: Ed25519 (with its X25519 key-agreement key derived from it), X25519, NIST P-256,
P-384, P-521 and secp256k1 (EC keys as compressed points). Documents use the current
spec's ``Multikey`` verification methods with ``publicKeyMultibase``. BLS12-381 and RSA
are not supported (``unsupportedPublicKeyType``): `cryptography` has no BLS, and RSA
did:keys are rare and long.

base58btc comes from the ``base58`` package; the multicodec varint is the few lines below
(the multiformats packages bring a whole codec table and dependencies for two numbers).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import base58
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, x25519

from identity.did.errors import (
    InvalidDid,
    InvalidPublicKey,
    InvalidPublicKeyLength,
    UnsupportedPublicKeyType,
)
from identity.did.syntax import parse_did

DID_V1 = "https://www.w3.org/ns/did/v1"
MULTIKEY_V1 = "https://w3id.org/security/multikey/v1"
SIGNING_RELATIONSHIPS = (
    "authentication",
    "assertionMethod",
    "capabilityInvocation",
    "capabilityDelegation",
)

PublicKey = ed25519.Ed25519PublicKey | x25519.X25519PublicKey | ec.EllipticCurvePublicKey


@dataclass(frozen=True)
class KeyType:
    name: str
    codec: int  # multicodec code (https://github.com/multiformats/multicodec table.csv)
    length: int  # raw public key bytes (compressed point for EC)
    curve: type[ec.EllipticCurve] | None = None
    signs: bool = True  # False: a key-agreement key only (X25519)


ED25519 = KeyType("Ed25519", 0xED, 32)
X25519 = KeyType("X25519", 0xEC, 32, signs=False)
P256 = KeyType("P-256", 0x1200, 33, ec.SECP256R1)
P384 = KeyType("P-384", 0x1201, 49, ec.SECP384R1)
P521 = KeyType("P-521", 0x1202, 67, ec.SECP521R1)
SECP256K1 = KeyType("secp256k1", 0xE7, 33, ec.SECP256K1)
KEY_TYPES = {t.codec: t for t in (ED25519, X25519, P256, P384, P521, SECP256K1)}
# Known to the multicodec table, refused here by name rather than as unknown bytes.
UNSUPPORTED = {0xEB: "BLS12-381 G1", 0xEEB: "BLS12-381 G2", 0x1205: "RSA", 0xEE: "Ed448"}


# -- multicodec varint and multibase -----------------------------------------------------


def varint_encode(number: int) -> bytes:
    out = bytearray()
    while True:
        byte = number & 0x7F
        number >>= 7
        if number:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def varint_decode(data: bytes) -> tuple[int, int]:
    """(value, bytes read). Multicodec codes fit in at most 9 bytes; minimal form only."""
    value = 0
    for i, byte in enumerate(data[:9]):
        value |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            if byte == 0 and i:
                raise InvalidDid("multicodec varint is not in its shortest form")
            return value, i + 1
    raise InvalidDid("multicodec varint is truncated or longer than 9 bytes")


def multikey_encode(key_type: KeyType, raw: bytes) -> str:
    """The ``publicKeyMultibase`` value, which is also the did:key method-specific id."""
    if len(raw) != key_type.length:
        raise InvalidPublicKeyLength(
            f"{key_type.name} public key is {key_type.length} bytes, not {len(raw)}"
        )
    return "z" + base58.b58encode(varint_encode(key_type.codec) + raw).decode("ascii")


def multikey_decode(value: str) -> tuple[KeyType, bytes]:
    """``z...`` -> (key type, raw public key bytes), the key checked to be a valid point."""
    if not value.startswith("z"):
        raise InvalidDid("a did:key is multibase base58btc: it starts with 'z'")
    try:
        data = base58.b58decode(value[1:].encode("ascii"))
    except (ValueError, UnicodeEncodeError) as exc:
        raise InvalidDid(f"not base58btc: {exc}") from exc
    # base58 keeps leading zero bytes as '1's; reject encodings the encoder never makes.
    if "z" + base58.b58encode(data).decode("ascii") != value:
        raise InvalidDid("not the canonical base58btc encoding of its bytes")
    codec, used = varint_decode(data)
    key_type = KEY_TYPES.get(codec)
    if key_type is None:
        name = UNSUPPORTED.get(codec, f"multicodec 0x{codec:x}")
        raise UnsupportedPublicKeyType(f"{name} keys are not supported")
    raw = data[used:]
    if len(raw) != key_type.length:
        raise InvalidPublicKeyLength(
            f"{key_type.name} public key is {key_type.length} bytes, not {len(raw)}"
        )
    public_key_from_raw(key_type, raw)  # raises InvalidPublicKey when not on the curve
    return key_type, raw


# -- keys ----------------------------------------------------------------------------------


def public_key_from_raw(key_type: KeyType, raw: bytes) -> PublicKey:
    try:
        if key_type is ED25519:
            ed25519_point_y(raw)
            return ed25519.Ed25519PublicKey.from_public_bytes(raw)
        if key_type is X25519:
            return x25519.X25519PublicKey.from_public_bytes(raw)
        assert key_type.curve is not None
        if raw[0] not in (2, 3):
            raise ValueError("not a compressed point (02 or 03 prefix)")
        return ec.EllipticCurvePublicKey.from_encoded_point(key_type.curve(), raw)
    except ValueError as exc:
        raise InvalidPublicKey(f"not a valid {key_type.name} public key: {exc}") from exc


def key_type_of(public_key: PublicKey) -> KeyType:
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        return ED25519
    if isinstance(public_key, x25519.X25519PublicKey):
        return X25519
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        for key_type in KEY_TYPES.values():
            if key_type.curve is not None and isinstance(public_key.curve, key_type.curve):
                return key_type
        raise UnsupportedPublicKeyType(f"curve {public_key.curve.name} is not supported")
    raise UnsupportedPublicKeyType(f"{type(public_key).__name__} keys are not supported")


def public_key_raw(public_key: PublicKey) -> bytes:
    """Raw bytes as did:key encodes them: 32 for the Edwards/Montgomery keys, a compressed
    point for the EC curves."""
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return public_key.public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint
        )
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


# Curve25519 field prime and Edwards d (RFC 7748, RFC 8032).
_P = 2**255 - 19
_D = (-121665 * pow(121666, -1, _P)) % _P


def ed25519_point_y(raw: bytes) -> int:
    """The y coordinate of an encoded Ed25519 point, after RFC 8032 5.1.3's decoding checks
    (OpenSSL loads any 32 bytes as a public key and fails only at verification)."""
    y = int.from_bytes(raw, "little")
    sign = y >> 255
    y &= (1 << 255) - 1
    if y >= _P:
        raise ValueError("y is not reduced modulo p")
    u, v = (y * y - 1) % _P, (_D * y * y + 1) % _P
    x = (u * pow(v, 3, _P) * pow(u * pow(v, 7, _P), (_P - 5) // 8, _P)) % _P
    if (v * x * x - u) % _P:
        x = (x * pow(2, (_P - 1) // 4, _P)) % _P
        if (v * x * x - u) % _P:
            raise ValueError("not a point on the curve")
    if x == 0 and sign:
        raise ValueError("x is 0 but its sign bit is set")
    return y


def x25519_from_ed25519(raw: bytes) -> bytes:
    """The X25519 public key of an Ed25519 public key: the birational map u = (1+y)/(1-y)
    (RFC 7748 section 4.1), as libsodium's crypto_sign_ed25519_pk_to_curve25519."""
    try:
        y = ed25519_point_y(raw)
    except ValueError as exc:
        raise InvalidPublicKey(f"not a valid Ed25519 public key: {exc}") from exc
    if y == 1:
        raise InvalidPublicKey("the Ed25519 identity point has no X25519 counterpart")
    u = (1 + y) * pow(1 - y, -1, _P) % _P
    return u.to_bytes(32, "little")


def x25519_private_from_ed25519(private_key: ed25519.Ed25519PrivateKey) -> x25519.X25519PrivateKey:
    """The X25519 private key of an Ed25519 private key: the first half of SHA-512(seed)
    (RFC 8032 5.1.5; X25519 clamps it), as libsodium's crypto_sign_ed25519_sk_to_curve25519."""
    from cryptography.hazmat.primitives import hashes

    seed = private_key.private_bytes(
        serialization.Encoding.Raw,
        serialization.PrivateFormat.Raw,
        serialization.NoEncryption(),
    )
    digest = hashes.Hash(hashes.SHA512())
    digest.update(seed)
    scalar = bytearray(digest.finalize()[:32])
    scalar[0] &= 248
    scalar[31] &= 127
    scalar[31] |= 64
    return x25519.X25519PrivateKey.from_private_bytes(bytes(scalar))


# -- create and resolve ----------------------------------------------------------------------


def did_key_create(public_key: PublicKey) -> str:
    """The did:key of a public key (a `cryptography` public key object)."""
    key_type = key_type_of(public_key)
    return "did:key:" + multikey_encode(key_type, public_key_raw(public_key))


def did_key_from_raw(key_type: KeyType, raw: bytes) -> str:
    public_key_from_raw(key_type, raw)
    return "did:key:" + multikey_encode(key_type, raw)


def did_key_public_key(did: str) -> tuple[KeyType, PublicKey]:
    """The key a did:key names, checked."""
    key_type, raw = _decode(did)
    return key_type, public_key_from_raw(key_type, raw)


def _decode(did: str) -> tuple[KeyType, bytes]:
    parsed = parse_did(did)
    if parsed.method != "key":
        raise InvalidDid(f"not a did:key: method {parsed.method!r}")
    if ":" in parsed.method_specific_id:
        raise InvalidDid("did:key versions other than the default are not supported")
    return multikey_decode(parsed.method_specific_id)


def did_key_document(did: str, *, derive_key_agreement: bool = True) -> dict[str, Any]:
    """The DID document of a did:key (the spec's document creation algorithm).

    Ed25519: one signing method in the four signing relationships and, unless
    ``derive_key_agreement`` is false, the derived X25519 key in ``keyAgreement``.
    X25519: ``keyAgreement`` only. EC curves: one method in all five (ECDH and ECDSA).
    """
    key_type, raw = _decode(did)
    multibase = did.removeprefix("did:key:")
    method = _multikey(did, multibase)
    document: dict[str, Any] = {
        "@context": [DID_V1, MULTIKEY_V1],
        "id": did,
        "verificationMethod": [method],
    }
    if key_type.signs:
        for relationship in SIGNING_RELATIONSHIPS:
            document[relationship] = [method["id"]]
    if key_type is ED25519:
        if derive_key_agreement:
            agreement = _multikey(did, multikey_encode(X25519, x25519_from_ed25519(raw)))
            document["verificationMethod"].append(agreement)
            document["keyAgreement"] = [agreement["id"]]
    else:
        document["keyAgreement"] = [method["id"]]
    return document


def _multikey(did: str, multibase: str) -> dict[str, str]:
    return {
        "id": f"{did}#{multibase}",
        "type": "Multikey",
        "controller": did,
        "publicKeyMultibase": multibase,
    }
