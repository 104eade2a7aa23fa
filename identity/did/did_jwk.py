"""did:jwk: a public JWK, base64url-encoded, is the identifier (https://github.com/quartzjer/did-jwk).

    did:jwk:<base64url, no padding, of the UTF-8 JSON of a public JWK>

Create serializes the JWK with RFC 8785 (JCS), which the spec recommends so that one key
gives one DID; resolve accepts any serialization (the DID is the bytes, not the key), and
returns the JWK as it was written. The document has one ``JsonWebKey2020`` method, ``#0``:
``use: "sig"`` leaves out ``keyAgreement``, ``use: "enc"`` gives ``keyAgreement`` only, no
``use`` gives all five relationships (the spec's rule, applied as written whatever the
curve). Private keys (``d`` and RSA's private members) and symmetric keys are refused.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

import rfc8785
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa, x448, x25519

from identity.did.did_key import DID_V1, SIGNING_RELATIONSHIPS, ed25519_point_y, public_key_raw
from identity.did.errors import InvalidDid, UnsupportedPublicKeyType
from identity.did.syntax import parse_did

JWS_2020_V1 = "https://w3id.org/security/suites/jws-2020/v1"
PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")
EC_CURVES = {
    "P-256": (ec.SECP256R1, 32),
    "P-384": (ec.SECP384R1, 48),
    "P-521": (ec.SECP521R1, 66),
    "secp256k1": (ec.SECP256K1, 32),
}
OKP_CURVES = {"Ed25519": 32, "X25519": 32, "Ed448": 57, "X448": 56}
MIN_RSA_BITS = 2048


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str, what: str) -> bytes:
    """Strict base64url without padding: the alphabet only, and the canonical encoding."""
    if not isinstance(text, str) or "=" in text or len(text) % 4 == 1:
        raise InvalidDid(f"{what} is not unpadded base64url")
    try:
        data = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidDid(f"{what} is not base64url: {exc}") from exc
    if b64url_encode(data) != text:
        raise InvalidDid(f"{what} is not canonical base64url (stray low bits)")
    return data


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = {}
    for key, value in pairs:
        if key in result:
            raise InvalidDid(f"the JWK repeats member {key!r}")
        result[key] = value
    return result


def _no_constant(name: str) -> None:
    raise InvalidDid(f"{name} is not JSON")


def validate_public_jwk(jwk: object) -> dict[str, Any]:
    """Check that ``jwk`` is a well-formed public JWK of a key we can use; return it."""
    if not isinstance(jwk, dict):
        raise InvalidDid("a JWK is a JSON object")
    private = [m for m in PRIVATE_MEMBERS if m in jwk]
    if private:
        raise InvalidDid(f"a did:jwk must hold a public key: the JWK has {private}")
    kty, use = jwk.get("kty"), jwk.get("use")
    if use is not None and use not in ("sig", "enc"):
        raise InvalidDid(f"JWK 'use' is 'sig' or 'enc', not {use!r}")
    try:
        if kty == "EC":
            _ec_key(jwk)
        elif kty == "OKP":
            _okp_key(jwk)
        elif kty == "RSA":
            _rsa_key(jwk)
        elif isinstance(kty, str):
            raise UnsupportedPublicKeyType(f"JWK key type {kty!r} is not supported")
        else:
            raise InvalidDid("the JWK has no 'kty'")
    except ValueError as exc:  # cryptography: not a point on the curve, bad RSA numbers
        raise InvalidDid(f"the JWK is not a valid {kty} public key: {exc}") from exc
    return jwk


def _member(jwk: dict, name: str, length: int | None = None) -> bytes:
    if name not in jwk:
        raise InvalidDid(f"the {jwk.get('kty')} JWK has no {name!r}")
    data = b64url_decode(jwk[name], f"JWK member {name!r}")
    if length is not None and len(data) != length:
        raise InvalidDid(f"JWK member {name!r} is {len(data)} bytes, not {length}")
    return data


def _ec_key(jwk: dict) -> ec.EllipticCurvePublicKey:
    crv = jwk.get("crv")
    if crv not in EC_CURVES:
        raise UnsupportedPublicKeyType(f"EC curve {crv!r} is not supported")
    curve, size = EC_CURVES[crv]
    x, y = _member(jwk, "x", size), _member(jwk, "y", size)
    numbers = ec.EllipticCurvePublicNumbers(int.from_bytes(x), int.from_bytes(y), curve())
    return numbers.public_key()


def _okp_key(jwk: dict):
    crv = jwk.get("crv")
    if crv not in OKP_CURVES:
        raise UnsupportedPublicKeyType(f"OKP curve {crv!r} is not supported")
    x = _member(jwk, "x", OKP_CURVES[crv])
    if crv == "Ed25519":
        ed25519_point_y(x)
        return ed25519.Ed25519PublicKey.from_public_bytes(x)
    if crv == "X25519":
        return x25519.X25519PublicKey.from_public_bytes(x)
    if crv == "Ed448":
        return ed448.Ed448PublicKey.from_public_bytes(x)
    return x448.X448PublicKey.from_public_bytes(x)


def _rsa_key(jwk: dict) -> rsa.RSAPublicKey:
    n, e = int.from_bytes(_member(jwk, "n")), int.from_bytes(_member(jwk, "e"))
    if n.bit_length() < MIN_RSA_BITS:
        raise InvalidDid(f"RSA keys under {MIN_RSA_BITS} bits are refused")
    return rsa.RSAPublicNumbers(e, n).public_key()


def jwk_from_public_key(public_key: Any) -> dict[str, str]:
    """The minimal public JWK (RFC 7517/8037) of a `cryptography` public key."""
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        for crv, (curve, size) in EC_CURVES.items():
            if isinstance(public_key.curve, curve):
                numbers = public_key.public_numbers()
                return {
                    "kty": "EC",
                    "crv": crv,
                    "x": b64url_encode(numbers.x.to_bytes(size)),
                    "y": b64url_encode(numbers.y.to_bytes(size)),
                }
        raise UnsupportedPublicKeyType(f"curve {public_key.curve.name} is not supported")
    okp = {
        ed25519.Ed25519PublicKey: "Ed25519",
        x25519.X25519PublicKey: "X25519",
        ed448.Ed448PublicKey: "Ed448",
        x448.X448PublicKey: "X448",
    }
    for cls, crv in okp.items():
        if isinstance(public_key, cls):
            return {"kty": "OKP", "crv": crv, "x": b64url_encode(public_key_raw(public_key))}
    if isinstance(public_key, rsa.RSAPublicKey):
        numbers = public_key.public_numbers()
        return {
            "kty": "RSA",
            "n": b64url_encode(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8)),
            "e": b64url_encode(numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8)),
        }
    raise UnsupportedPublicKeyType(f"{type(public_key).__name__} keys are not supported")


def did_jwk_create(jwk: dict[str, Any]) -> str:
    """The did:jwk of a public JWK (a dict), serialized with JCS."""
    validate_public_jwk(jwk)
    return "did:jwk:" + b64url_encode(rfc8785.dumps(jwk))


def did_jwk_decode(did: str) -> dict[str, Any]:
    """The public JWK a did:jwk holds, checked."""
    parsed = parse_did(did)
    if parsed.method != "jwk":
        raise InvalidDid(f"not a did:jwk: method {parsed.method!r}")
    data = b64url_decode(parsed.method_specific_id, "the did:jwk method-specific id")
    try:
        jwk = json.loads(
            data.decode("utf-8"), object_pairs_hook=_no_duplicates, parse_constant=_no_constant
        )
    except ValueError as exc:  # UnicodeDecodeError and JSONDecodeError included
        raise InvalidDid(f"the did:jwk value is not UTF-8 JSON: {exc}") from exc
    return validate_public_jwk(jwk)


def did_jwk_document(did: str) -> dict[str, Any]:
    jwk = did_jwk_decode(did)
    method = {
        "id": f"{did}#0",
        "type": "JsonWebKey2020",
        "controller": did,
        "publicKeyJwk": jwk,
    }
    document: dict[str, Any] = {
        "@context": [DID_V1, JWS_2020_V1],
        "id": did,
        "verificationMethod": [method],
    }
    use = jwk.get("use")
    if use != "enc":
        for relationship in SIGNING_RELATIONSHIPS:
            document[relationship] = [method["id"]]
    if use != "sig":
        document["keyAgreement"] = [method["id"]]
    return document
