"""Every did:key vector in shared/conformance/did-key/, byte for byte.

The vectors are the w3c-ccg/did-method-key v0.7 test vectors, whose documents use older
verification-method types (Ed25519VerificationKey2018, JsonWebKey2020, ...) where v0.9,
which we produce, uses ``Multikey``. As the conformance README says: derive the same keys,
compare key material, not type names. So for each vector we check:

* the DID we make from the vector's private key (seed, base58 or JWK ``d``) and from its
  public key equals the vector's DID;
* the Ed25519 vectors' X25519 key-agreement key (public and private) we derive equals theirs;
* our document has the same id, the same verification-method ids, controllers and order,
  the same relationships listing the same ids, and each method's key bytes equal theirs.
"""

from __future__ import annotations

import base64

import base58
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, x25519

from identity.did import UnsupportedPublicKeyType
from identity.did.did_key import (
    DID_V1,
    ED25519,
    P256,
    P384,
    P521,
    SECP256K1,
    X25519,
    KeyType,
    did_key_create,
    did_key_document,
    multikey_decode,
    multikey_encode,
    public_key_raw,
    x25519_from_ed25519,
    x25519_private_from_ed25519,
)
from identity.did.tests.conformance import MISSING, conformance_dir, load, require_conformance

RELATIONSHIPS = (
    "authentication",
    "assertionMethod",
    "capabilityInvocation",
    "capabilityDelegation",
    "keyAgreement",
)
SUPPORTED = ("ed25519-x25519.json", "x25519.json", "nist-curves.json", "secp256k1.json")
# file: (test id words, skip reason)
NOT_SUPPORTED = {
    "bls12381.json": (
        "unsupported-BLS12-381",
        "BLS12-381 keys: cryptography has no pairing curves",
    ),
    "rsa.json": ("unsupported-RSA", "RSA did:keys: not among issue 13's key types"),
}
CURVES = {"P-256": P256, "P-384": P384, "P-521": P521, "secp256k1": SECP256K1}
BASE58_TYPES = {
    "Ed25519VerificationKey2018": ED25519,
    "X25519KeyAgreementKey2019": X25519,
    "P256Key2021": P256,
    "EcdsaSecp256k1VerificationKey2019": SECP256K1,
}


def _vectors(name: str) -> dict:
    data = load(f"did-key/{name}")
    if name == "x25519.json":  # this file nests the documents under one key
        return {did: {"didDocument": doc} for did, doc in data["didDocument"].items()}
    return data


def _params():
    if conformance_dir() is None:
        return [MISSING]
    params = []
    for name in SUPPORTED:
        for i, (did, vector) in enumerate(_vectors(name).items()):
            params.append(pytest.param((name, did, vector), id=f"{name[:-5]}-{i}-{did[8:20]}"))
    # BLS12-381 and RSA vectors are not run byte for byte (NOT_SUPPORTED says why): a test
    # of their own checks that each of them is refused as unsupportedPublicKeyType.
    return params


def _b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _jwk_public_raw(jwk: dict) -> tuple[KeyType, bytes]:
    if jwk["kty"] == "OKP":
        return {"Ed25519": ED25519, "X25519": X25519}[jwk["crv"]], _b64url(jwk["x"])
    key_type = CURVES[jwk["crv"]]
    numbers = ec.EllipticCurvePublicNumbers(
        int.from_bytes(_b64url(jwk["x"])), int.from_bytes(_b64url(jwk["y"])), key_type.curve()
    )
    return key_type, public_key_raw(numbers.public_key())


def _public_from_raw(key_type: KeyType, raw: bytes):
    if key_type is ED25519:
        return ed25519.Ed25519PublicKey.from_public_bytes(raw)
    if key_type is X25519:
        return x25519.X25519PublicKey.from_public_bytes(raw)
    return ec.EllipticCurvePublicKey.from_encoded_point(key_type.curve(), raw)


def _material(method: dict) -> tuple[KeyType | None, bytes]:
    """(key type if the vector says it, raw key bytes as did:key encodes them)."""
    if "publicKeyJwk" in method:
        return _jwk_public_raw(method["publicKeyJwk"])
    if "publicKeyBase58" in method:
        return BASE58_TYPES.get(method["type"]), base58.b58decode(method["publicKeyBase58"])
    key_type, raw = multikey_decode(method["publicKeyMultibase"])
    return key_type, raw


def _secrets(vector: dict) -> list[bytes]:
    """Every form of the signing private key the vector gives (seed, base58, JWK ``d``)."""
    pair = vector.get("verificationKeyPair") or vector.get("verificationMethod") or {}
    secrets = []
    if "seed" in vector:
        secrets.append(bytes.fromhex(vector["seed"]))
    if "privateKeyBase58" in pair:
        secrets.append(base58.b58decode(pair["privateKeyBase58"]))
    if "privateKeyJwk" in pair:
        secrets.append(_b64url(pair["privateKeyJwk"]["d"]))
    return secrets


def _private_key(secret: bytes, key_type: KeyType):
    if key_type is ED25519:
        return ed25519.Ed25519PrivateKey.from_private_bytes(secret)
    if key_type is X25519:
        return x25519.X25519PrivateKey.from_private_bytes(secret)
    return ec.derive_private_key(int.from_bytes(secret), key_type.curve())


def _raw_private(key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )


@pytest.mark.parametrize("case", _params())
def test_did_key_vector(case):
    if case is None:
        require_conformance()
    name, did, vector = case
    expected = vector["didDocument"]
    first = expected["verificationMethod"][0]
    key_type, raw = _material(vector.get("verificationKeyPair") or first)
    key_type = key_type or _material(first)[0]
    assert key_type is not None, f"the vector does not say its key type: {first['type']}"
    assert expected["id"] == did

    # The DID from the public key, and from each form of the private key the vector has.
    assert multikey_decode(did.removeprefix("did:key:")) == (key_type, raw)
    assert did_key_create(_public_from_raw(key_type, raw)) == did
    secrets = _secrets(vector)
    if name != "x25519.json":  # the X25519 vectors are public documents only
        assert secrets, "a vector without its private key checks less than it should"
    for secret in secrets:
        private = _private_key(secret, key_type)
        assert public_key_raw(private.public_key()) == raw
        assert did_key_create(private.public_key()) == did

    # Ed25519: the derived X25519 key-agreement key, public and private.
    if key_type is ED25519:
        agreement = vector["keyAgreementKeyPair"]
        agreement_type, expected_x = _material(agreement)
        assert agreement_type in (None, X25519)
        assert x25519_from_ed25519(raw) == expected_x
        assert agreement["id"].endswith("#" + multikey_encode(X25519, expected_x))
        expected_secret = (
            base58.b58decode(agreement["privateKeyBase58"])
            if "privateKeyBase58" in agreement
            else _b64url(agreement["privateKeyJwk"]["d"])
        )
        for secret in secrets:
            derived = x25519_private_from_ed25519(_private_key(secret, ED25519))
            assert public_key_raw(derived.public_key()) == expected_x
            assert _raw_private(derived) == expected_secret

    _assert_same_document(did_key_document(did), expected)


def _assert_same_document(ours: dict, expected: dict) -> None:
    assert ours["id"] == expected["id"]
    assert ours["@context"][0] == expected["@context"][0] == DID_V1
    assert [m["id"] for m in ours["verificationMethod"]] == [
        m["id"] for m in expected["verificationMethod"]
    ]
    for mine, theirs in zip(
        ours["verificationMethod"], expected["verificationMethod"], strict=True
    ):
        assert mine["controller"] == theirs["controller"]
        assert mine["type"] == "Multikey"  # theirs is a v0.7 name: not compared
        mine_type, mine_raw = multikey_decode(mine["publicKeyMultibase"])
        theirs_type, theirs_raw = _material(theirs)
        assert mine_raw == theirs_raw, mine["id"]
        assert theirs_type in (None, mine_type)
    for relationship in RELATIONSHIPS:
        assert ours.get(relationship) == expected.get(relationship), relationship
    extra = set(expected) - {"@context", "id", "verificationMethod", *RELATIONSHIPS}
    assert not extra, f"the vector has members we do not produce: {extra}"


@pytest.mark.parametrize("name", sorted(NOT_SUPPORTED))
def test_unsupported_vectors_are_refused_by_name(name):
    require_conformance()
    for did in _vectors(name):
        with pytest.raises(UnsupportedPublicKeyType):
            did_key_document(did)


def test_every_vector_file_is_covered():
    """A new vector file must be read by these tests or listed as unsupported."""
    found = require_conformance()
    files = {p.name for p in (found / "did-key").glob("*.json")}
    assert files == set(SUPPORTED) | set(NOT_SUPPORTED)
