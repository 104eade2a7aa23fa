"""The resolver: results shaped as the DID Resolution spec says, every error by its name,
and fragments dereferenced to their verification method."""

from __future__ import annotations

import base58
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from identity.did.did_jwk import did_jwk_create, jwk_from_public_key
from identity.did.did_key import did_key_create, did_key_document
from identity.did.resolver import DID_JSON, DID_LD_JSON, dereference, resolve

ED_DID = "did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp"  # the all-zero seed
ED_X25519 = "z6LShs9GGnqk85isEBzzshkuVWrVKsRp24GnDuHk8QWkARMW"
JWK_DID = did_jwk_create(jwk_from_public_key(ec.generate_private_key(ec.SECP256R1()).public_key()))


def test_resolve_did_key():
    result = resolve(ED_DID)
    assert result.to_dict() == {
        "didDocument": did_key_document(ED_DID),
        "didResolutionMetadata": {"contentType": "application/did+ld+json"},
        "didDocumentMetadata": {},
    }
    assert result.error is None
    assert result.did_document["@context"][0] == "https://www.w3.org/ns/did/v1"


def test_resolve_did_jwk():
    result = resolve(JWK_DID)
    assert result.did_document["id"] == JWK_DID
    assert result.did_document["verificationMethod"][0]["id"] == JWK_DID + "#0"
    assert result.did_resolution_metadata == {"contentType": DID_LD_JSON}


def test_plain_json_representation_has_no_context():
    result = resolve(ED_DID, accept=DID_JSON)
    assert "@context" not in result.did_document
    assert result.did_resolution_metadata == {"contentType": DID_JSON}
    assert result.did_document["id"] == ED_DID


@pytest.mark.parametrize("accept", ["text/html", "application/json", "*/*", ""])
def test_representation_not_supported(accept):
    result = resolve(ED_DID, accept=accept)
    assert result.error == "representationNotSupported"
    assert result.did_document is None
    assert result.to_dict()["didDocument"] is None


ERRORS = {
    "did:Key:z6Mk": "invalidDid",
    "did:key:": "invalidDid",
    "not a did": "invalidDid",
    "did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp#a b": "invalidDidUrl",
    "did:key:zAAAA": "unsupportedPublicKeyType",
    "did:key:z" + base58.b58encode(b"\xed\x01" + bytes(31)).decode(): "invalidPublicKeyLength",
    "did:jwk:e30": "invalidDid",  # {} has no kty
    "did:example:123": "methodNotSupported",
    "did:web:example.com": "methodNotSupported",
    ED_DID + "/path": "notFound",
    ED_DID + "?versionId=1": "notFound",
    ED_DID + "?service=hub": "notFound",
    ED_DID + "#nope": "notFound",
    JWK_DID + "#1": "notFound",
}


@pytest.mark.parametrize(("did", "error"), ERRORS.items(), ids=list(ERRORS.values()))
def test_errors_by_name(did, error):
    result = resolve(did)
    assert result.error == error
    assert result.did_resolution_metadata["errorMessage"]
    assert result.did_document is None and result.did_document_metadata == {}
    assert dereference(did).error == error


def test_method_checked_before_representation():
    assert resolve("did:example:1", accept="text/html").error == "methodNotSupported"


@pytest.mark.parametrize("value", [None, 42, b"did:key:x"])
def test_not_a_string(value):
    assert resolve(value).error == "invalidDidUrl"


def test_fragment_dereferences_to_its_verification_method():
    result = resolve(f"{ED_DID}#{ED_X25519}")
    assert result.error is None
    assert result.content_stream == {
        "@context": ["https://www.w3.org/ns/did/v1", "https://w3id.org/security/multikey/v1"],
        "id": f"{ED_DID}#{ED_X25519}",
        "type": "Multikey",
        "controller": ED_DID,
        "publicKeyMultibase": ED_X25519,
    }
    assert result.to_dict()["contentStream"] == result.content_stream
    assert result.did_document["id"] == ED_DID

    dereferenced = dereference(f"{ED_DID}#{ED_X25519}", accept=DID_JSON)
    assert dereferenced.to_dict() == {
        "dereferencingMetadata": {"contentType": DID_JSON},
        "contentStream": {k: v for k, v in result.content_stream.items() if k != "@context"},
        "contentMetadata": {},
    }


def test_did_jwk_fragment_zero():
    assert dereference(JWK_DID + "#0").content_stream["type"] == "JsonWebKey2020"


def test_dereference_bare_did_gives_the_document():
    result = dereference(ED_DID)
    assert result.content_stream == did_key_document(ED_DID)
    assert result.dereferencing_metadata == {"contentType": DID_LD_JSON}


def test_every_supported_key_type_resolves():
    keys = [ed25519.Ed25519PrivateKey.generate(), ec.generate_private_key(ec.SECP384R1())]
    for key in keys:
        did = did_key_create(key.public_key())
        method_id = resolve(did).did_document["verificationMethod"][0]["id"]
        assert resolve(method_id).content_stream["id"] == method_id


class _Served:
    """A method that answers whatever document it was given (as a did:web server may)."""

    def __init__(self, document=None, error: Exception | None = None) -> None:
        self.document, self.error = document, error

    def resolve(self, parsed, options):
        if self.error is not None:
            raise self.error
        return {"document": self.document, "metadata": {}}


@pytest.mark.parametrize("members", [5, None, "abc", [5], {"a": 1}, [None], [["x"]]])
def test_a_fragment_in_a_document_of_any_shape_is_not_found(members):
    did = "did:web:example.com"
    methods = {"web": _Served({"id": did, "verificationMethod": members, "service": 7})}
    result = resolve(did + "#k", methods=methods)
    assert result.error == "notFound"


def test_a_fragment_still_finds_its_entry_beside_odd_members():
    did = "did:web:example.com"
    entry = {"id": "#home", "type": "LinkedDomains", "serviceEndpoint": "https://x.example/"}
    methods = {"web": _Served({"id": did, "verificationMethod": "odd", "service": [7, entry]})}
    assert resolve(did + "#home", methods=methods).content_stream == entry


def test_an_unexpected_exception_is_an_internal_error_without_its_details():
    methods = {"web": _Served(error=TypeError("secret detail"))}
    result = resolve("did:web:example.com", methods=methods)
    assert result.error == "internalError"
    assert "secret detail" not in result.did_resolution_metadata["errorMessage"]
