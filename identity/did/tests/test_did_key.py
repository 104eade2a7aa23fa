"""did:key beyond the vectors: every key type round-trips, and bad identifiers are refused
with the did:key spec's error names."""

from __future__ import annotations

import base58
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, x25519

from identity.did import (
    InvalidDid,
    InvalidPublicKey,
    InvalidPublicKeyLength,
    UnsupportedPublicKeyType,
)
from identity.did.did_key import (
    ED25519,
    MULTIKEY_V1,
    P256,
    P384,
    P521,
    SECP256K1,
    X25519,
    did_key_create,
    did_key_document,
    did_key_from_raw,
    did_key_public_key,
    multikey_decode,
    multikey_encode,
    public_key_raw,
    varint_decode,
    varint_encode,
    x25519_from_ed25519,
    x25519_private_from_ed25519,
)

GENERATORS = {
    "Ed25519": (ED25519, lambda: ed25519.Ed25519PrivateKey.generate(), "z6Mk"),
    "X25519": (X25519, lambda: x25519.X25519PrivateKey.generate(), "z6LS"),
    "P-256": (P256, lambda: ec.generate_private_key(ec.SECP256R1()), "zDn"),
    "P-384": (P384, lambda: ec.generate_private_key(ec.SECP384R1()), "z82"),
    "P-521": (P521, lambda: ec.generate_private_key(ec.SECP521R1()), "z2J9"),
    "secp256k1": (SECP256K1, lambda: ec.generate_private_key(ec.SECP256K1()), "zQ3s"),
}


@pytest.mark.parametrize("name", GENERATORS)
def test_round_trip(name):
    key_type, generate, prefix = GENERATORS[name]
    public = generate().public_key()
    did = did_key_create(public)
    assert did.startswith("did:key:" + prefix)
    assert did_key_from_raw(key_type, public_key_raw(public)) == did
    found_type, found = did_key_public_key(did)
    assert found_type is key_type
    assert public_key_raw(found) == public_key_raw(public)

    document = did_key_document(did)
    assert document["@context"] == ["https://www.w3.org/ns/did/v1", MULTIKEY_V1]
    method = document["verificationMethod"][0]
    assert method == {
        "id": f"{did}#{did[8:]}",
        "type": "Multikey",
        "controller": did,
        "publicKeyMultibase": did[8:],
    }
    signing = ["authentication", "assertionMethod", "capabilityInvocation", "capabilityDelegation"]
    if key_type is X25519:
        assert not set(signing) & set(document)
        assert document["keyAgreement"] == [method["id"]]
    else:
        for relationship in signing:
            assert document[relationship] == [method["id"]]


def test_ed25519_key_agreement_is_derived_and_optional():
    private = ed25519.Ed25519PrivateKey.generate()
    did = did_key_create(private.public_key())
    document = did_key_document(did)
    agreement = document["verificationMethod"][1]
    assert document["keyAgreement"] == [agreement["id"]]
    derived_public = x25519_private_from_ed25519(private).public_key()
    assert agreement["publicKeyMultibase"] == multikey_encode(
        X25519, public_key_raw(derived_public)
    )
    # ECDH with the derived keys agrees both ways: the derivation is the real one.
    other = x25519.X25519PrivateKey.generate()
    their_view = x25519.X25519PublicKey.from_public_bytes(
        x25519_from_ed25519(public_key_raw(private.public_key()))
    )
    assert other.exchange(their_view) == x25519_private_from_ed25519(private).exchange(
        other.public_key()
    )

    bare = did_key_document(did, derive_key_agreement=False)
    assert len(bare["verificationMethod"]) == 1 and "keyAgreement" not in bare


@pytest.mark.parametrize("number", [0, 1, 0x7F, 0x80, 0xED, 0x1200, 0x1205, 2**63 - 1])
def test_varint_round_trip(number):
    encoded = varint_encode(number)
    assert varint_decode(encoded + b"\x01\x02") == (number, len(encoded))


def test_varint_known_prefixes():
    assert varint_encode(0xED) == b"\xed\x01"
    assert varint_encode(0x1200) == b"\x80\x24"


def _z(data: bytes) -> str:
    return "did:key:z" + base58.b58encode(data).decode()


ED_KEY = public_key_raw(ed25519.Ed25519PrivateKey.generate().public_key())
P256_KEY = public_key_raw(ec.generate_private_key(ec.SECP256R1()).public_key())

BAD = {
    "not base58btc (multibase f)": ("did:key:f" + "ab" * 34, InvalidDid),
    "base58 alphabet excludes 0": ("did:key:z6Mk0" + "1" * 40, InvalidDid),
    "base58 alphabet excludes l": ("did:key:z6Mkl" + "1" * 40, InvalidDid),
    "empty after z": ("did:key:z", InvalidDid),
    "truncated varint": (_z(b"\xed"), InvalidDid),
    "non-minimal varint": (_z(b"\xed\x81\x00" + ED_KEY), InvalidDid),
    "unknown codec": (_z(b"\x99\x01" + ED_KEY), UnsupportedPublicKeyType),
    "bls12-381 g2": (_z(varint_encode(0xEEB) + bytes(96)), UnsupportedPublicKeyType),
    "rsa": (_z(varint_encode(0x1205) + bytes(270)), UnsupportedPublicKeyType),
    "ed25519 too short": (_z(b"\xed\x01" + ED_KEY[:-1]), InvalidPublicKeyLength),
    "ed25519 too long": (_z(b"\xed\x01" + ED_KEY + b"\x00"), InvalidPublicKeyLength),
    "p-256 uncompressed": (_z(b"\x80\x24\x04" + bytes(64)), InvalidPublicKeyLength),
    "p-256 bad prefix byte": (_z(b"\x80\x24\x05" + P256_KEY[1:]), InvalidPublicKey),
    "p-256 x not on curve": (_z(b"\x80\x24\x02" + b"\xff" * 32), InvalidPublicKey),
    "ed25519 y not reduced": (_z(b"\xed\x01" + b"\xff" * 31 + b"\x7f"), InvalidPublicKey),
    "other method": ("did:example:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp", InvalidDid),
    "version segment": ("did:key:1:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp", InvalidDid),
    "a DID URL": ("did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp#x", InvalidDid),
}


@pytest.mark.parametrize(("did", "error"), BAD.values(), ids=BAD.keys())
def test_bad_did_key(did, error):
    with pytest.raises(error) as raised:
        did_key_document(did)
    assert isinstance(raised.value, InvalidDid)  # every one of them is a bad identifier
    assert raised.value.error == error.error


def test_ed25519_not_on_curve():
    # y = 2 has no x on edwards25519 (x^2 is not a square).
    raw = (2).to_bytes(32, "little")
    with pytest.raises(InvalidPublicKey, match="not a point"):
        multikey_decode(multikey_encode(ED25519, raw))


def test_leading_zero_bytes_round_trip_but_non_canonical_text_does_not():
    raw = bytes(31) + b"\x09"  # X25519 accepts any 32 bytes; base58 keeps zeros as '1's
    did = did_key_from_raw(X25519, raw)
    assert multikey_decode(did[8:]) == (X25519, raw)


def test_error_names():
    assert InvalidPublicKey.error == "invalidPublicKey"
    assert InvalidPublicKeyLength.error == "invalidPublicKeyLength"
    assert UnsupportedPublicKeyType.error == "unsupportedPublicKeyType"
