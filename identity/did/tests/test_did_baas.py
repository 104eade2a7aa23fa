"""did:baas in the library: syntax, rendering, the client's signed operations (accepted by
the real ``_did`` chaincode on the in-process chain), and resolution through ``Resolver``
with versions, services, fragments, deactivation and state proofs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519, x25519

from identity.did import did_baas
from identity.did.did_baas import (
    BaasMethod,
    check_proof,
    create_op,
    deactivate_op,
    default_state,
    did_for,
    parse_did_baas,
    parse_rfc3339,
    render,
    rfc3339,
    state_key,
    update_op,
    version_time_ns,
)
from identity.did.did_key import did_key_create, public_key_raw
from identity.did.errors import InvalidDid, InvalidDidUrl, NotFound
from identity.did.resolver import DID_JSON, Resolver
from ledger.errors import Code
from ledger.system.did import derive_suffix, op_message
from ledger.testing import BLOCK_NS, CHAIN_ID, Chain, start_chain

NS = "seoul-welfare"
OWNER = ed25519.Ed25519PrivateKey.from_private_bytes(b"o" * 32)
NEXT = ed25519.Ed25519PrivateKey.from_private_bytes(b"n" * 32)


def raw(key) -> bytes:
    return public_key_raw(key.public_key())


# -- syntax --------------------------------------------------------------------------------


@pytest.mark.parametrize("did", [
    "did:baas:seoul-welfare:mfrggzdfmztwq2lknnwg23tpoa",
    "did:baas:a:mfrggzdfmztwq2lknnwg23tpoa",
    "did:baas:" + "a" * 32 + ":mfrggzdfmztwq2lknnwg23tpoa",
    "did:baas:0-9:aaaaaaaaaaaaaaaaaaaaaaaaa7",
])
def test_valid(did):
    namespace, suffix = parse_did_baas(did)
    assert did == f"did:baas:{namespace}:{suffix}"


@pytest.mark.parametrize("did", [
    "did:baas:mfrggzdfmztwq2lknnwg23tpoa",  # no namespace
    "did:baas:Seoul:mfrggzdfmztwq2lknnwg23tpoa",  # upper case
    "did:baas:-seoul:mfrggzdfmztwq2lknnwg23tpoa",
    "did:baas:seoul-:mfrggzdfmztwq2lknnwg23tpoa",
    "did:baas:" + "a" * 33 + ":mfrggzdfmztwq2lknnwg23tpoa",
    "did:baas:seoul:mfrggzdfmztwq2lknnwg23tpo",  # 25 characters
    "did:baas:seoul:mfrggzdfmztwq2lknnwg23tpoaa",  # 27
    "did:baas:seoul:mfrggzdfmztwq2lknnwg23tpo1",  # 1 is not base32
    "did:baas:seoul:MFRGGZDFMZTWQ2LKNNWG23TPOA",
    "did:baas:seoul:x:mfrggzdfmztwq2lknnwg23tpoa",
    "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK",
    "did:baas:seoul:mfrggzdfmztwq2lknnwg23tpoa#key-1",  # a DID URL, not a DID
])
def test_invalid(did):
    with pytest.raises(InvalidDid):
        parse_did_baas(did)


def test_the_suffix_is_self_certifying():
    did = did_for(NS, raw(OWNER))
    assert did == f"did:baas:{NS}:{derive_suffix(raw(OWNER))}"
    assert len(did.rsplit(":", 1)[1]) == 26
    assert did_for(NS, raw(NEXT)) != did


def test_times():
    assert rfc3339(1_764_892_800 * 10**9 + 999_999_999) == "2025-12-05T00:00:00Z"
    assert parse_rfc3339("2025-12-05T00:00:00Z") == 1_764_892_800 * 10**9
    assert parse_rfc3339("2025-12-05T09:00:00+09:00") == 1_764_892_800 * 10**9
    assert parse_rfc3339("2025-12-05T00:00:00.5Z") == 1_764_892_800 * 10**9 + 5 * 10**8
    for bad in ("2025-12-05T00:00:00", "yesterday", "",
                "2025-12-05T00:00:00,5Z",  # ISO 8601's comma is not RFC 3339
                "2025-12-05", "2025-12-05T00:00Z", "2025-12-05T00:00:00+0900"):
        with pytest.raises(InvalidDidUrl):
            parse_rfc3339(bad)


def test_times_keep_nanoseconds_and_the_sign():
    # nanoseconds are kept (datetime stops at microseconds)
    assert parse_rfc3339("2025-12-05T00:00:00.123456789Z") == 1_764_892_800_123_456_789
    # before 1970 the fraction counts forward from the earlier whole second
    assert parse_rfc3339("1969-12-31T23:59:59.5Z") == -500_000_000
    assert parse_rfc3339("1969-12-31T23:59:59Z") == -1_000_000_000
    # a time without a fraction is its whole second, a time with one is exact
    assert version_time_ns("2025-12-05T00:00:00Z") == 1_764_892_800 * 10**9 + 999_999_999
    assert version_time_ns("2025-12-05T00:00:00.0Z") == 1_764_892_800 * 10**9
    assert version_time_ns("1969-12-31T23:59:59Z") == -1


# -- rendering -----------------------------------------------------------------------------


def _record(state, version=1, **extra):
    return {"did": "x", "namespace": NS, "version": version, "versions": version,
            "state": state, "deactivated": state is None, "created": 10**18,
            "updated": 10**18 + version * 10**9, "next_updated": None, "height": 5,
            "tx": "ab" * 32, "state_key": f"did/x/v/{version:010d}", **extra}


def test_render_document_and_metadata():
    agree = x25519.X25519PrivateKey.from_private_bytes(b"a" * 32).public_key()
    state = {
        "verificationMethod": [
            {"id": "key-1", "type": "Ed25519", "publicKey": raw(OWNER).hex()},
            {"id": "agree-1", "type": "X25519", "publicKey": public_key_raw(agree).hex()},
        ],
        "authentication": ["key-1"], "assertionMethod": ["key-1"],
        "capabilityInvocation": ["key-1"], "capabilityDelegation": [],
        "keyAgreement": ["agree-1"],
        "service": [{"id": "home", "type": "LinkedDomains",
                     "serviceEndpoint": "https://example.org/"}],
    }
    did = did_for(NS, raw(OWNER))
    document, metadata = render(did, _record(state, version=2, next_updated=10**18 + 5 * 10**9))
    assert document["@context"] == ["https://www.w3.org/ns/did/v1",
                                    "https://w3id.org/security/multikey/v1"]
    assert document["id"] == did
    key, agreement = document["verificationMethod"]
    # The same multikey encoding as did:key (the did:key of the same key names it).
    assert key == {"id": f"{did}#key-1", "type": "Multikey", "controller": did,
                   "publicKeyMultibase": did_key_create(OWNER.public_key())[8:]}
    assert agreement["publicKeyMultibase"] == did_key_create(agree)[8:]
    assert agreement["publicKeyMultibase"].startswith("z6LS")
    for relationship in ("authentication", "assertionMethod", "capabilityInvocation"):
        assert document[relationship] == [f"{did}#key-1"]
    assert "capabilityDelegation" not in document  # empty lists are left out
    assert document["keyAgreement"] == [f"{did}#agree-1"]
    assert document["service"] == [{"id": f"{did}#home", "type": "LinkedDomains",
                                     "serviceEndpoint": "https://example.org/"}]
    assert metadata == {"created": rfc3339(10**18), "updated": rfc3339(10**18 + 2 * 10**9),
                        "versionId": "2", "nextVersionId": "3",
                        "nextUpdate": rfc3339(10**18 + 5 * 10**9)}


def test_render_deactivated():
    document, metadata = render("did:baas:a:" + "a" * 26, _record(None, version=3))
    assert document is None
    assert metadata["deactivated"] is True and metadata["versionId"] == "3"


# -- operations, accepted by the real chaincode --------------------------------------------


@pytest.fixture
def chain(tmp_path: Path) -> Iterator[Chain]:
    c = start_chain(tmp_path / "app")
    run(c, "set_namespace", NS, signer="admin1")
    yield c
    c.app.close()


def run(chain: Chain, function: str, arg, signer: str = "user1"):
    result = chain.block(chain.tx(signer, "_did", function, [arg])).tx_results[0]
    assert result.code == 0, result.log
    return result


def chain_reader(chain: Chain):
    calls = []

    def read(namespace, suffix, *, version_id=None, version_time=None, proof=False):
        calls.append((namespace, suffix, version_id, version_time, proof))
        args = {"did": suffix}
        if version_id is not None:
            args["version_id"] = version_id
        if version_time is not None:
            args["version_time"] = version_time
        answer = chain.call("_did", "resolve", args)
        if answer.code == Code.NOT_FOUND or namespace != NS:
            raise NotFound(f"did:baas:{namespace}:{suffix} was not found")
        assert answer.code == 0, answer.log
        record = json.loads(answer.value)
        if proof:
            key = state_key(record)
            at = chain.app.query(path="/state", data=key, height=chain.height, prove=True)
            record["proof"] = {"verified": check_proof(
                key=key, value=at.value, proof=json.loads(at.proof),
                app_hash=chain.app.store.app_hash_at(chain.height))}
        return record

    read.calls = calls
    return read


def test_create_default_state():
    op = create_op(OWNER, CHAIN_ID)
    assert op["did"] == derive_suffix(raw(OWNER)) and op["prev"] == 0
    assert op["state"] == default_state(raw(OWNER).hex())
    message = op_message(CHAIN_ID, op["did"], "create", 0, op["state"])
    OWNER.public_key().verify(bytes.fromhex(op["sig"]), message)  # raises when wrong
    assert create_op(b"o" * 32, CHAIN_ID) == op  # raw private bytes work the same


def test_lifecycle_through_the_resolver(chain: Chain):
    did = did_for(NS, raw(OWNER))
    run(chain, "create", create_op(OWNER, CHAIN_ID))
    created_ns = chain.time_ns
    chain.block()
    services = {**default_state(raw(NEXT).hex(), "key-2"),
                "service": [{"id": "files", "type": "LinkedDomains",
                             "serviceEndpoint": "https://files.example/"}]}
    run(chain, "update", update_op(OWNER, CHAIN_ID, did, 1, services))  # rotate
    updated_ns = chain.time_ns
    chain.block()
    resolver = Resolver().with_methods(baas=BaasMethod(chain_reader(chain)))

    latest = resolver.resolve(did)
    assert latest.error is None
    assert [m["id"] for m in latest.did_document["verificationMethod"]] == [f"{did}#key-2"]
    assert latest.did_document_metadata == {"created": rfc3339(created_ns),
                                            "updated": rfc3339(updated_ns),
                                            "versionId": "2"}
    first = resolver.resolve(did + "?versionId=1")
    assert [m["id"] for m in first.did_document["verificationMethod"]] == [f"{did}#key-1"]
    assert first.did_document_metadata["nextVersionId"] == "2"
    assert first.did_document_metadata["nextUpdate"] == rfc3339(updated_ns)
    between = resolver.resolve(did + "?versionTime=" + rfc3339(created_ns + BLOCK_NS))
    assert between.did_document_metadata["versionId"] == "1"
    assert resolver.resolve(did + "?versionTime=2001-01-01T00:00:00Z").error == "notFound"
    assert resolver.resolve(did + "?versionId=3").error == "notFound"

    service = resolver.resolve(did + "?service=files")
    assert service.content_stream["serviceEndpoint"] == "https://files.example/"
    assert resolver.resolve(did + "?service=nope").error == "notFound"
    assert resolver.resolve(did + "#key-2").content_stream["id"] == f"{did}#key-2"
    assert resolver.resolve(did + "#files").content_stream["type"] == "LinkedDomains"
    assert resolver.resolve(did + "?versionId=1#key-2").error == "notFound"
    assert "@context" not in resolver.resolve(did, DID_JSON).did_document

    # The rotated-out key no longer signs: the chain refuses it; the new key deactivates.
    stale = update_op(OWNER, CHAIN_ID, did, 2, services, key_id="key-2")
    result = chain.block(chain.tx("user1", "_did", "update", [stale])).tx_results[0]
    assert result.code == Code.UNAUTHORIZED
    run(chain, "deactivate", deactivate_op(NEXT, CHAIN_ID, did, 2, key_id="key-2"))
    gone = resolver.resolve(did)
    assert gone.error is None and gone.did_document is None
    assert gone.did_document_metadata["deactivated"] is True
    assert resolver.resolve(did + "?service=files").error == "notFound"
    assert resolver.resolve(did + "?versionId=2").did_document is not None  # history stays


@pytest.mark.parametrize(("suffix", "error"), [
    ("?versionId=0", "invalidDidUrl"),
    ("?versionId=01", "invalidDidUrl"),
    ("?versionId=x", "invalidDidUrl"),
    ("?versionTime=soon", "invalidDidUrl"),
    ("?versionId=1&versionTime=2026-01-01T00:00:00Z", "invalidDidUrl"),
    ("?versionId=1&versionId=1", "invalidDidUrl"),
    ("?hl=zQm", "notFound"),
    ("/path", "notFound"),
])
def test_bad_parameters(chain: Chain, suffix, error):
    did = did_for(NS, raw(OWNER))
    run(chain, "create", create_op(OWNER, CHAIN_ID))
    reader = chain_reader(chain)
    result = Resolver().with_methods(baas=BaasMethod(reader)).resolve(did + suffix)
    assert result.error == error
    assert reader.calls == []  # refused before any read


def test_unknown_dids_and_namespaces(chain: Chain):
    resolver = Resolver().with_methods(baas=BaasMethod(chain_reader(chain)))
    assert resolver.resolve(did_for(NS, raw(OWNER))).error == "notFound"
    run(chain, "create", create_op(OWNER, CHAIN_ID))
    assert resolver.resolve(did_for("elsewhere", raw(OWNER))).error == "notFound"
    assert resolver.resolve("did:baas:x:short").error == "invalidDid"


def test_state_proof(chain: Chain):
    did = did_for(NS, raw(OWNER))
    run(chain, "create", create_op(OWNER, CHAIN_ID))
    chain.block()
    result = Resolver().with_methods(baas=BaasMethod(chain_reader(chain))).resolve(
        did, options={"proof": True})
    assert result.did_resolution_metadata["proof"] == {"verified": True}
    key = state_key(chain.value("_did", "resolve", [did_baas.parse_did_baas(did)[1]]))
    at = chain.app.query(path="/state", data=key, height=chain.height, prove=True)
    proof = json.loads(at.proof)
    app_hash = chain.app.store.app_hash_at(chain.height)
    assert check_proof(key=key, value=at.value, proof=proof, app_hash=app_hash)
    assert not check_proof(key=key, value=at.value.replace(b"key-1", b"key-9"), proof=proof,
                           app_hash=app_hash)
    assert not check_proof(key=key, value=at.value, proof=proof, app_hash=b"\x00" * 32)
    assert not check_proof(key=key, value=at.value, proof={"bucket": "x"}, app_hash=app_hash)
