"""did:jwk: create from a public JWK (JCS), resolve to the spec's document, refuse private
and malformed keys with invalidDid."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa, x25519

from identity.did import InvalidDid, UnsupportedPublicKeyType
from identity.did.did_jwk import (
    JWS_2020_V1,
    did_jwk_create,
    did_jwk_decode,
    did_jwk_document,
    jwk_from_public_key,
)

ALL = [
    "authentication",
    "assertionMethod",
    "capabilityInvocation",
    "capabilityDelegation",
    "keyAgreement",
]

# The did:jwk specification's own examples (its "Examples" section).
SPEC_P256_JWK = {
    "crv": "P-256",
    "kty": "EC",
    "x": "acbIQiuMs3i8_uszEjJ2tpTtRM4EU3yz91PH6CdH2V0",
    "y": "_KcyLj9vWMptnmKtm46GqDz8wf74I5LKgrl2GzH3nSE",
}
SPEC_P256_DID = (
    "did:jwk:eyJjcnYiOiJQLTI1NiIsImt0eSI6IkVDIiwieCI6ImFjYklRaXVNczNpOF91c3pFakoydHBUdFJNNEVVM3l6"
    "OTFQSDZDZEgyVjAiLCJ5IjoiX0tjeUxqOXZXTXB0bm1LdG00NkdxRHo4d2Y3NEk1TEtncmwyR3pIM25TRSJ9"
)
SPEC_X25519_DID = (
    "did:jwk:eyJrdHkiOiJPS1AiLCJjcnYiOiJYMjU1MTkiLCJ1c2UiOiJlbmMiLCJ4IjoiM3A3YmZYdDl3YlRUVzJIQzdP"
    "UTFOei1EUThoYmVHZE5yZngtRkctSUswOCJ9"
)


def _did(raw: bytes) -> str:
    return "did:jwk:" + base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def test_spec_example_p256():
    assert did_jwk_create(dict(reversed(SPEC_P256_JWK.items()))) == SPEC_P256_DID  # JCS order
    document = did_jwk_document(SPEC_P256_DID)
    assert document == {
        "@context": ["https://www.w3.org/ns/did/v1", JWS_2020_V1],
        "id": SPEC_P256_DID,
        "verificationMethod": [
            {
                "id": SPEC_P256_DID + "#0",
                "type": "JsonWebKey2020",
                "controller": SPEC_P256_DID,
                "publicKeyJwk": SPEC_P256_JWK,
            }
        ],
        **{relationship: [SPEC_P256_DID + "#0"] for relationship in ALL},
    }


def test_spec_example_x25519_use_enc_is_key_agreement_only():
    # Not JCS-ordered (kty first): resolution takes the bytes as they are.
    document = did_jwk_document(SPEC_X25519_DID)
    jwk = document["verificationMethod"][0]["publicKeyJwk"]
    assert list(jwk) == ["kty", "crv", "use", "x"]
    assert document["keyAgreement"] == [SPEC_X25519_DID + "#0"]
    assert not set(ALL[:4]) & set(document)


KEYS = {
    "Ed25519": lambda: ed25519.Ed25519PrivateKey.generate(),
    "P-256": lambda: ec.generate_private_key(ec.SECP256R1()),
    "X25519": lambda: x25519.X25519PrivateKey.generate(),
}


@pytest.mark.parametrize("name", KEYS)
@pytest.mark.parametrize("use", [None, "sig", "enc"])
def test_create_and_resolve(name, use):
    jwk = jwk_from_public_key(KEYS[name]().public_key())
    if use:
        jwk["use"] = use
    did = did_jwk_create(jwk)
    assert did_jwk_decode(did) == jwk
    document = did_jwk_document(did)
    method_id = did + "#0"
    assert document["verificationMethod"] == [
        {"id": method_id, "type": "JsonWebKey2020", "controller": did, "publicKeyJwk": jwk}
    ]
    expected = {"sig": ALL[:4], "enc": ["keyAgreement"], None: ALL}[use]
    assert [r for r in ALL if r in document] == expected
    assert all(document[r] == [method_id] for r in expected)


def test_create_is_canonical():
    jwk = jwk_from_public_key(ed25519.Ed25519PrivateKey.generate().public_key())
    shuffled = dict(reversed(jwk.items()))
    assert did_jwk_create(jwk) == did_jwk_create(shuffled)
    encoded = base64.urlsafe_b64decode(did_jwk_create(jwk)[8:] + "==")
    assert encoded == json.dumps(jwk, sort_keys=True, separators=(",", ":")).encode()
    assert "=" not in did_jwk_create(jwk)


def test_private_key_refused_on_create_and_resolve():
    private = ed25519.Ed25519PrivateKey.generate()
    jwk = jwk_from_public_key(private.public_key()) | {"d": "A" * 43}
    with pytest.raises(InvalidDid, match="public key"):
        did_jwk_create(jwk)
    with pytest.raises(InvalidDid, match="public key") as raised:
        did_jwk_document(_did(json.dumps(jwk).encode()))
    assert raised.value.error == "invalidDid"


def test_rsa_public_key_accepted_private_members_refused():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    jwk = jwk_from_public_key(key)
    assert did_jwk_decode(did_jwk_create(jwk)) == jwk
    with pytest.raises(InvalidDid):
        did_jwk_create(jwk | {"p": "AQAB"})


P256 = jwk_from_public_key(ec.generate_private_key(ec.SECP256R1()).public_key())
ED = jwk_from_public_key(ed25519.Ed25519PrivateKey.generate().public_key())

MALFORMED = {
    "padding": _did(json.dumps(ED).encode()).rstrip("=") + "==",
    "standard base64 alphabet": "did:jwk:eyJ+" + "A" * 20,
    "stray low bits": "did:jwk:AB",
    "length 1 mod 4": "did:jwk:eyJ9B",
    "not JSON": _did(b"not json"),
    "not UTF-8": _did(b'{"kty":"\xff"}'),
    "JSON array": _did(b'[{"kty":"OKP"}]'),
    "JSON string": _did(b'"OKP"'),
    "duplicate member": _did(b'{"kty":"OKP","kty":"EC","crv":"Ed25519","x":"AA"}'),
    "NaN": _did(b'{"kty":"OKP","n":NaN}'),
    "no kty": _did(json.dumps({"crv": "Ed25519", "x": ED["x"]}).encode()),
    "kty not a string": _did(json.dumps(ED | {"kty": 1}).encode()),
    "symmetric key": _did(json.dumps({"kty": "oct", "k": "AAAA"}).encode()),
    "unknown kty": _did(json.dumps({"kty": "XYZ"}).encode()),
    "unknown curve": _did(json.dumps(P256 | {"crv": "P-192"}).encode()),
    "missing y": _did(json.dumps({k: v for k, v in P256.items() if k != "y"}).encode()),
    "short x": _did(json.dumps(ED | {"x": "AAAA"}).encode()),
    "x not base64url": _did(json.dumps(ED | {"x": "!" * 43}).encode()),
    "x not a string": _did(json.dumps(ED | {"x": 5}).encode()),
    "point not on curve": _did(json.dumps(P256 | {"y": P256["x"]}).encode()),
    "ed25519 not on curve": _did(
        json.dumps(
            ED | {"x": base64.urlsafe_b64encode((2).to_bytes(32, "little")).decode()[:43]}
        ).encode()
    ),
    "bad use": _did(json.dumps(ED | {"use": "both"}).encode()),
    "empty id": "did:jwk:",
    "other method": "did:key:" + _did(json.dumps(ED).encode())[8:],
    "dot in id": "did:jwk:eyJ.eyJ",
}


@pytest.mark.parametrize("did", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_refused(did):
    with pytest.raises(InvalidDid) as raised:
        did_jwk_document(did)
    assert raised.value.error in ("invalidDid", "unsupportedPublicKeyType")


def test_unsupported_types_are_named():
    with pytest.raises(UnsupportedPublicKeyType):
        did_jwk_document(MALFORMED["unknown curve"])
    with pytest.raises(InvalidDid, match="public key"):
        did_jwk_document(MALFORMED["symmetric key"])


def test_small_rsa_refused():
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key()
    with pytest.raises(InvalidDid, match="2048"):
        did_jwk_create(jwk_from_public_key(key))
