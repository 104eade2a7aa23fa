"""The public DID resolver over HTTP (``GET /1.0/identifiers/<did>``): representations,
every error status, CORS, throttling, did:key (with the conformance vectors), did:jwk,
did:web against a local HTTPS server, and did:baas against a real local CometBFT network
running the ``_did`` chaincode (one network for the module; each test adds its rows)."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import base58
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from django.test import Client

from conftest import require_service
from deploy.tests.factories import NetworkFactory, NodeFactory
from identity.did.did_baas import (
    create_op,
    deactivate_op,
    default_state,
    did_for,
    rfc3339,
    update_op,
)
from identity.did.did_jwk import did_jwk_create, jwk_from_public_key
from identity.did.did_key import did_key_create, public_key_raw
from identity.did.tests.conformance import conformance_dir
from identity.did.tests.webserver import https_server
from identity.models import DidRegistry

URL = "/1.0/identifiers/"
RESULT = 'application/ld+json;profile="https://w3id.org/did-resolution"'
KEY = ed25519.Ed25519PrivateKey.from_private_bytes(b"k" * 32)
DID_KEY = did_key_create(KEY.public_key())
NS = "http-test"
SHORT_KEY = "did:key:z" + base58.b58encode(b"\xed\x01" + b"\x01" * 31).decode()


@pytest.fixture
def anon(settings):
    from django.core.cache import cache

    cache.clear()  # throttle counts and cached resolutions of earlier tests
    settings.BAAS_DID_RESOLVER_THROTTLE_RATE = "10000/minute"
    settings.BAAS_DID_CACHE_SECONDS = 0
    return Client()


def get(client: Client, did: str, accept: str | None = None, query: str = "", **extra):
    headers = {"HTTP_ACCEPT": accept} if accept else {}
    return client.get(URL + did + (f"?{query}" if query else ""), **headers, **extra)


def body(response) -> dict:
    return json.loads(response.content)


def assert_result_shape(result: dict) -> None:
    """A DID Resolution result: the three members, metadata objects, error or contentType."""
    assert {"didDocument", "didResolutionMetadata", "didDocumentMetadata"} <= set(result)
    assert isinstance(result["didResolutionMetadata"], dict)
    assert isinstance(result["didDocumentMetadata"], dict)
    meta = result["didResolutionMetadata"]
    if "error" in meta:
        assert result["didDocument"] is None
        assert isinstance(meta["error"], str) and isinstance(meta["errorMessage"], str)
    else:
        assert meta["contentType"] in ("application/did+ld+json", "application/did+json")


# -- did:key and did:jwk, representations, errors --------------------------------------------


@pytest.mark.django_db
def test_representations(anon):
    default = get(anon, DID_KEY)
    assert default.status_code == 200
    assert default["Content-Type"] == "application/did+ld+json"
    document = body(default)
    assert document["id"] == DID_KEY and "@context" in document
    for accept in ("application/did+ld+json", "application/ld+json", "*/*",
                   "text/html;q=0.9, */*;q=0.1"):
        assert body(get(anon, DID_KEY, accept)) == document
    plain = get(anon, DID_KEY, "application/did+json")
    assert plain["Content-Type"] == "application/did+json"
    assert body(plain) == {k: v for k, v in document.items() if k != "@context"}
    full = get(anon, DID_KEY, RESULT)
    assert full.status_code == 200 and full["Content-Type"] == RESULT
    result = body(full)
    assert_result_shape(result)
    assert result["didDocument"] == document
    assert result["didResolutionMetadata"]["contentType"] == "application/did+ld+json"
    # q-values decide between offered types
    assert get(anon, DID_KEY, "application/did+ld+json;q=0.5, application/did+json")[
        "Content-Type"] == "application/did+json"


@pytest.mark.django_db
def test_fragments_are_dereferenced(anon):
    fragment = DID_KEY[8:]
    method = get(anon, DID_KEY + "%23" + fragment)
    assert method.status_code == 200
    assert body(method)["id"] == f"{DID_KEY}#{fragment}"
    assert body(method)["type"] == "Multikey"
    missing = get(anon, DID_KEY + "%23nope")
    assert missing.status_code == 404
    assert body(missing)["didResolutionMetadata"]["error"] == "notFound"


@pytest.mark.django_db
def test_did_jwk(anon):
    did = did_jwk_create(jwk_from_public_key(KEY.public_key()))
    response = get(anon, did)
    assert response.status_code == 200 and body(response)["id"] == did
    assert body(get(anon, did + "%230"))["type"] == "JsonWebKey2020"


@pytest.mark.django_db
@pytest.mark.parametrize(("did", "accept", "query", "status", "error"), [
    ("not-a-did", None, "", 400, "invalidDid"),
    ("did:key:abc", None, "", 400, "invalidDid"),
    ("did:key:zzz", None, "", 400, "unsupportedPublicKeyType"),
    (SHORT_KEY, None, "", 400, "invalidPublicKeyLength"),
    ("did:jwk:eyJrdHkiOiJvY3QiLCJrIjoiYWFhYSJ9", None, "", 400, "invalidDid"),
    (DID_KEY + "%3FversionId%3D1", None, "", 404, "notFound"),
    (DID_KEY, None, "versionId=1", 404, "notFound"),
    (DID_KEY, None, "proof=maybe", 400, "invalidOptions"),
    (DID_KEY, None, "colour=red", 400, "invalidOptions"),
    (DID_KEY, None, "service=a&service=b", 400, "invalidOptions"),
    (DID_KEY, "text/html", "", 406, "representationNotSupported"),
    (DID_KEY, "application/did+cbor", "", 406, "representationNotSupported"),
    ("did:example:123", None, "", 501, "methodNotSupported"),
    ("did:baas:nowhere:aaaaaaaaaaaaaaaaaaaaaaaaaa", None, "", 404, "notFound"),
    ("did:baas:Nowhere:aaaa", None, "", 400, "invalidDid"),
])
def test_errors(anon, did, accept, query, status, error):
    response = get(anon, did, accept, query)
    assert response.status_code == status, response.content
    assert response["Content-Type"] == RESULT
    result = body(response)
    assert_result_shape(result)
    assert result["didResolutionMetadata"]["error"] == error
    assert response["Access-Control-Allow-Origin"] == "*"
    assert response["Cache-Control"] == "no-store"


@pytest.mark.django_db
def test_anonymous_cors_no_session_no_csrf(anon):
    response = get(anon, DID_KEY)
    assert response["Access-Control-Allow-Origin"] == "*"
    assert "Accept" in response["Vary"]
    assert not response.cookies  # no session, no CSRF cookie
    preflight = anon.options(URL + DID_KEY, HTTP_ORIGIN="https://app.example",
                             HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET")
    assert preflight.status_code == 204
    assert preflight["Access-Control-Allow-Origin"] == "*"
    assert "Accept" in preflight["Access-Control-Allow-Headers"]
    refused = Client(enforce_csrf_checks=True).post(URL + DID_KEY)
    assert refused.status_code == 405 and refused["Allow"] == "GET, HEAD, OPTIONS"


@pytest.mark.django_db
def test_throttled_per_client_address(anon, settings):
    settings.BAAS_DID_RESOLVER_THROTTLE_RATE = "3/minute"
    assert [get(anon, DID_KEY).status_code for _ in range(3)] == [200, 200, 200]
    limited = get(anon, DID_KEY)
    assert limited.status_code == 429
    assert body(limited)["error"]["code"] == "throttled"
    assert int(limited["Retry-After"]) >= 1
    assert get(anon, DID_KEY, REMOTE_ADDR="192.0.2.7").status_code == 200  # another client


def _ed25519_vectors() -> list[tuple[str, dict]]:
    found = conformance_dir()
    if found is None:
        return []
    data = json.loads((found / "did-key" / "ed25519-x25519.json").read_text())
    return [(did, vector) for did, vector in data.items() if did.startswith("did:key:")]


@pytest.mark.django_db
@pytest.mark.parametrize(("did", "vector"), _ed25519_vectors() or [
    pytest.param(None, None, id="conformance-dir-missing")])
def test_did_key_conformance_vectors_over_http(anon, did, vector):
    """The shared did:key vectors resolve over HTTP to their own keys (the Multikey form:
    the vectors' older verification method types are not compared)."""
    if did is None:
        require_service("conformance vectors", False, "no shared/conformance directory")
    full = body(get(anon, did, RESULT))
    assert_result_shape(full)
    document = full["didDocument"]
    assert document["id"] == did
    fragment = did[8:]
    assert document["verificationMethod"][0]["id"] == f"{did}#{fragment}"
    assert document["verificationMethod"][0]["publicKeyMultibase"] == fragment
    expected = vector.get("didDocument") or {}
    expected_ids = {m["id"] for m in expected.get("verificationMethod", [])}
    assert {m["id"] for m in document["verificationMethod"]} == expected_ids or not expected_ids


# -- did:web ----------------------------------------------------------------------------------


@pytest.fixture
def web(settings, tmp_path):
    with https_server() as server:
        ca = tmp_path / "ca.pem"
        ca.write_bytes(server.cert_pem)
        settings.BAAS_DID_WEB_ALLOW_PRIVATE = True
        settings.BAAS_DID_WEB_CA_FILE = str(ca)
        yield server


@pytest.mark.django_db
def test_did_web(anon, web):
    did = web.did()
    document = {"@context": ["https://www.w3.org/ns/did/v1"], "id": did,
                "verificationMethod": [{"id": f"{did}#k", "type": "Multikey",
                                        "controller": did,
                                        "publicKeyMultibase": DID_KEY[8:]}]}
    web.routes["/.well-known/did.json"] = (200, {}, json.dumps(document).encode())
    # A server that keeps the raw path (gunicorn's RAW_URI, ASGI raw_path) keeps %3A ...
    raw = get(anon, did, RAW_URI=URL + did)
    assert raw.status_code == 200, raw.content
    assert body(raw) == document
    # ... and a DID encoded whole (encodeURIComponent) is decoded once ...
    whole = URL + quote(did, safe="")
    assert body(anon.get(whole, RAW_URI=whole)) == document
    # ... elsewhere the path is decoded once, so the client writes % as %25.
    decoded = get(anon, did.replace("%", "%25"))
    assert decoded.status_code == 200 and body(decoded) == document
    assert body(get(anon, did.replace("%", "%25") + "%23k"))["id"] == f"{did}#k"

    web.routes.clear()
    assert get(anon, did.replace("%", "%25")).status_code == 404
    web.routes["/.well-known/did.json"] = (500, {}, b"")
    failed = get(anon, did.replace("%", "%25"))
    assert failed.status_code == 502
    assert body(failed)["didResolutionMetadata"]["error"] == "internalError"


@pytest.mark.django_db
@pytest.mark.parametrize("members", [5, None, "abc", [5], {"a": 1}, [None]])
def test_did_web_hostile_document_with_a_fragment_is_not_a_500(anon, web, members):
    """A did:web document is whatever its server sent: verificationMethod and service of
    any type must give notFound for a fragment, never an exception."""
    did = web.did()
    document = {"id": did, "verificationMethod": members, "service": 7}
    web.routes["/.well-known/did.json"] = (200, {}, json.dumps(document).encode())
    response = get(anon, did.replace("%", "%25") + "%23k")
    assert response.status_code == 404, response.content
    assert body(response)["didResolutionMetadata"]["error"] == "notFound"


@pytest.mark.django_db
def test_did_web_huge_content_length_is_a_502(anon, web):
    def route(handler):
        handler.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: " + b"9" * 5000
                            + b"\r\n\r\n{}")
        handler.wfile.flush()

    web.routes["/.well-known/did.json"] = route
    response = get(anon, web.did().replace("%", "%25"))
    assert response.status_code == 502, response.content
    assert body(response)["didResolutionMetadata"]["error"] == "internalError"


@pytest.mark.django_db
def test_did_web_nan_is_a_502_not_invalid_json_with_200(anon, web):
    did = web.did()
    web.routes["/.well-known/did.json"] = (200, {}, ('{"id": "' + did + '", "x": NaN}').encode())
    response = get(anon, did.replace("%", "%25"))
    assert response.status_code == 502, response.content
    json.loads(response.content, parse_constant=lambda name: pytest.fail(name))


@pytest.mark.django_db
def test_did_web_has_its_own_lower_throttle(anon, web, settings):
    settings.BAAS_DID_WEB_THROTTLE_RATE = "2/minute"
    did = web.did()
    web.routes["/.well-known/did.json"] = (200, {}, json.dumps({"id": did}).encode())
    assert [get(anon, did.replace("%", "%25")).status_code for _ in range(3)] == \
        [200, 200, 429]
    # other methods keep the resolver's own rate
    assert get(anon, DID_KEY).status_code == 200


@pytest.mark.django_db
def test_an_unexpected_exception_is_a_502_not_a_500(anon, monkeypatch):
    class Broken:
        def resolve(self, parsed, options):
            raise KeyError("surprise")

    def resolver():
        from identity.did.resolver import Resolver

        return Resolver({"key": Broken()})

    monkeypatch.setattr("identity.resolver_views.public_resolver", resolver)
    response = get(anon, DID_KEY)
    assert response.status_code == 502, response.content
    metadata = body(response)["didResolutionMetadata"]
    assert metadata["error"] == "internalError" and "surprise" not in metadata["errorMessage"]

    def raising():
        raise RuntimeError("even the resolver's construction")

    monkeypatch.setattr("identity.resolver_views.public_resolver", raising)
    assert get(anon, DID_KEY).status_code == 502


@pytest.mark.django_db
def test_did_web_private_addresses_refused_by_default(anon, web, settings):
    settings.BAAS_DID_WEB_ALLOW_PRIVATE = False
    web.routes["/.well-known/did.json"] = (200, {}, b"{}")
    response = get(anon, web.did().replace("%", "%25"))
    assert response.status_code == 502
    assert "could not be fetched" in body(response)["didResolutionMetadata"]["errorMessage"]
    assert web.requests == []
    settings.BAAS_DID_WEB_ENABLED = False
    assert get(anon, web.did().replace("%", "%25")).status_code == 501


# -- did:baas on a real network ---------------------------------------------------------------


class LedgerNet:
    def __init__(self, url: str, chain_id: str, operator: object) -> None:
        self.url, self.chain_id, self.operator = url, chain_id, operator

    def client(self):
        from ledger.client import LedgerClient

        return LedgerClient(self.url, signer=self.operator, chain_id=self.chain_id)

    def write(self, function: str, op: dict) -> int:
        with self.client() as client:
            return client.submit("_did", function, [op], wait="commit").height


@pytest.fixture(scope="module")
def ledger_net(tmp_path_factory):
    """One single-validator CometBFT network for the module, its namespace set."""
    require_service("cometbft", shutil.which("cometbft") is not None,
                    "run scripts/install-cometbft.sh")
    from ledger.cli import build_app_state
    from ledger.network import create_operator_key, generate_network, local_nodes
    from ledger.node import node_pid, start_background, stop_background, wait_ready
    from ledger.tx import Signer

    root: Path = tmp_path_factory.mktemp("did-net")
    key, public_hex = create_operator_key(root)
    nodes = local_nodes(1)
    (home,) = generate_network(chain_id="did-http", nodes=nodes, out_dir=root,
                               app_state=build_app_state(public_hex))
    start_background(home)
    try:
        url = f"http://127.0.0.1:{nodes[0].rpc_port}"
        wait_ready(url, timeout=90, pid=node_pid(home))
        net = LedgerNet(url, "did-http", Signer.from_private_bytes(key))
        with net.client() as client:
            client.submit("_did", "set_namespace", [NS], wait="commit")
        yield net
    finally:
        stop_background(home)


@pytest.fixture
def registry(ledger_net, db):
    network = NetworkFactory(chain_id=ledger_net.chain_id)
    NodeFactory(network=network, rpc_url=ledger_net.url, health="healthy", height=1)
    return DidRegistry.objects.create(network=network, namespace=NS, public=True)


def new_did(ledger_net) -> tuple[ed25519.Ed25519PrivateKey, str, int]:
    key = ed25519.Ed25519PrivateKey.generate()
    height = ledger_net.write("create", create_op(key, ledger_net.chain_id))
    return key, did_for(NS, public_key_raw(key.public_key())), height


@pytest.mark.cometbft
@pytest.mark.slow
def test_did_baas_lifecycle_over_http(anon, ledger_net, registry):
    key, did, _height = new_did(ledger_net)
    first = get(anon, did)
    assert first.status_code == 200, first.content
    document = body(first)
    assert document["id"] == did
    assert document["verificationMethod"][0]["publicKeyMultibase"] == \
        did_key_create(key.public_key())[8:]
    assert document["capabilityInvocation"] == [f"{did}#key-1"]

    # rotate to a new key with a service, then read every way
    new_key = ed25519.Ed25519PrivateKey.generate()
    state = {**default_state(public_key_raw(new_key.public_key()).hex(), "key-2"),
             "service": [{"id": "files", "type": "LinkedDomains",
                          "serviceEndpoint": "https://files.example/"}]}
    ledger_net.write("update", update_op(key, ledger_net.chain_id, did, 1, state))
    latest = body(get(anon, did, RESULT))
    assert_result_shape(latest)
    assert latest["didDocumentMetadata"]["versionId"] == "2"
    assert [m["id"] for m in latest["didDocument"]["verificationMethod"]] == [f"{did}#key-2"]
    v1 = body(get(anon, did, RESULT, "versionId=1"))
    assert v1["didDocumentMetadata"]["versionId"] == "1"
    assert v1["didDocumentMetadata"]["nextVersionId"] == "2"
    assert v1["didDocumentMetadata"]["nextUpdate"] == latest["didDocumentMetadata"]["updated"]
    in_url = get(anon, did + "%3FversionId%3D1")
    assert body(in_url) == v1["didDocument"]
    # every answer gets the short cache time (0 here): no shared cache keeps a version
    assert get(anon, did + "%3FversionId%3D1")["Cache-Control"] == "no-store"
    # versionTime: a time between the two versions (block times are nanoseconds; the
    # metadata shows whole seconds, and a time without a fraction means its whole second).
    with ledger_net.client() as client:
        v1_ns = client.call("_did", "resolve", {"did": did.rsplit(":", 1)[1],
                                                "version_id": 1})["updated"]
    micro = -(-v1_ns // 1000)  # rounded up to the microsecond: still before version 2
    between = datetime.fromtimestamp(micro // 10**6, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S") \
        + f".{micro % 10**6:06d}Z"
    at = body(get(anon, did, RESULT, "versionTime=" + between))
    assert at["didDocumentMetadata"]["versionId"] == "1"
    whole = body(get(anon, did, RESULT, "versionTime=" + latest["didDocumentMetadata"]["updated"]))
    assert whole["didDocumentMetadata"]["versionId"] == "2"
    assert get(anon, did, query="versionTime=2001-01-01T00:00:00Z").status_code == 404
    assert get(anon, did, query="versionId=9").status_code == 404
    assert body(get(anon, did, query="service=files"))["serviceEndpoint"] == \
        "https://files.example/"
    assert body(get(anon, did + "%23key-2"))["type"] == "Multikey"

    # deactivate: 410 with the metadata; earlier versions stay
    ledger_net.write("deactivate", deactivate_op(new_key, ledger_net.chain_id, did, 2,
                                                 key_id="key-2"))
    gone = get(anon, did)
    assert gone.status_code == 410
    result = body(gone)
    assert_result_shape(result)
    assert result["didDocument"] is None
    assert result["didDocumentMetadata"]["deactivated"] is True
    assert result["didDocumentMetadata"]["versionId"] == "3"
    assert get(anon, did, query="versionId=2").status_code == 200


@pytest.mark.cometbft
@pytest.mark.slow
def test_did_baas_state_proof_over_http(anon, ledger_net, registry):
    from ledger.client import LedgerClient
    from ledger.state import verify_proof

    _key, did, written = new_did(ledger_net)
    response = get(anon, did, RESULT, "proof=true")
    assert response.status_code == 200, response.content
    proof = body(response)["didResolutionMetadata"]["proof"]
    assert proof["height"] >= written
    # what was checked, no more: one node's header, not the validators' commit
    assert "verified" not in proof and proof["commitChecked"] is False
    assert "appHash" in proof["checked"]
    # Anyone can check it again: the value under the app hash of the next block's header.
    with LedgerClient(ledger_net.url) as client:
        header_hash = client.block(proof["appHashBlock"])["block"]["header"]["app_hash"]
    assert header_hash.lower() == proof["appHash"]
    assert verify_proof(key=proof["key"].encode(), value=proof["value"].encode(),
                        proof=proof["merkleProof"], app_hash=bytes.fromhex(proof["appHash"]))
    assert json.loads(proof["value"])["state"] == default_state(
        json.loads(proof["value"])["state"]["verificationMethod"][0]["publicKey"])


@pytest.mark.cometbft
@pytest.mark.slow
def test_did_baas_not_public_is_not_found_exactly_like_unknown(anon, ledger_net, registry):
    _key, did, _h = new_did(ledger_net)
    unknown = "did:baas:" + NS + ":" + "a" * 26
    assert get(anon, did).status_code == 200
    registry.public = False
    registry.save()
    hidden, missing = get(anon, did, RESULT), get(anon, unknown, RESULT)
    assert hidden.status_code == missing.status_code == 404
    hidden_meta = body(hidden)["didResolutionMetadata"]
    missing_meta = body(missing)["didResolutionMetadata"]
    assert hidden_meta["error"] == missing_meta["error"] == "notFound"
    assert hidden_meta["errorMessage"].replace(did, "X") == \
        missing_meta["errorMessage"].replace(unknown, "X")
    other = "did:baas:other-ns:" + did.rsplit(":", 1)[1]
    assert get(anon, other).status_code == 404


@pytest.mark.cometbft
@pytest.mark.slow
def test_did_baas_cache(anon, ledger_net, registry, settings):
    settings.BAAS_DID_CACHE_SECONDS = 300
    key, did, _h = new_did(ledger_net)
    before = body(get(anon, did))
    assert get(anon, did)["Cache-Control"] == "public, max-age=300"
    new_key = ed25519.Ed25519PrivateKey.generate()
    ledger_net.write("update", update_op(
        key, ledger_net.chain_id, did, 1,
        default_state(public_key_raw(new_key.public_key()).hex(), "key-2")))
    assert body(get(anon, did)) == before  # cached: latest answers wait the cache time
    version_2 = get(anon, did, query="versionId=2")
    assert body(version_2)["verificationMethod"][0]["id"] == f"{did}#key-2"
    assert version_2["Cache-Control"] == "public, max-age=300"  # the short time, not 3600
    from django.core.cache import cache

    cache.clear()
    assert body(get(anon, did))["verificationMethod"][0]["id"] == f"{did}#key-2"
    # taken out of the public registry: at once, whatever is cached
    registry.public = False
    registry.save()
    assert get(anon, did).status_code == 404


@pytest.mark.cometbft
@pytest.mark.slow
def test_did_baas_network_down(anon, ledger_net, registry):
    _key, did, _h = new_did(ledger_net)
    network = registry.network
    network.nodes.update(rpc_url="http://127.0.0.1:9")  # discard port: nobody answers
    down = get(anon, did)
    assert down.status_code == 502
    assert body(down)["didResolutionMetadata"]["error"] == "internalError"
    network.status = "stopped"
    network.save()
    assert get(anon, did).status_code == 502


# -- did:baas against a fake node (errors and caching without a network) ---------------------

FAKE_KEY = ed25519.Ed25519PrivateKey.from_private_bytes(b"f" * 32)
FAKE_DID = did_for("fake-ns", public_key_raw(FAKE_KEY.public_key()))
FAKE_SUFFIX = FAKE_DID.rsplit(":", 1)[1]


def fake_record(version: int, versions: int) -> dict:
    public_hex = public_key_raw(FAKE_KEY.public_key()).hex()
    return {"did": FAKE_SUFFIX, "namespace": "fake-ns", "version": version,
            "versions": versions, "state": default_state(public_hex), "deactivated": False,
            "created": 10**18, "updated": 10**18 + version,
            "next_updated": None if version == versions else 2 * 10**18,
            "height": 5, "tx": "00", "state_key": f"did/{FAKE_SUFFIX}/v/{version:010d}"}


class FakeNode:
    """``_did.resolve`` answers from ``latest``; the proof's steps fail as ``fail`` says."""

    url = "http://fake"

    def __init__(self, latest: int = 1, fail: str = "") -> None:
        self.latest, self.fail, self.calls = latest, fail, 0

    def call(self, chaincode, function, args):
        self.calls += 1
        return fake_record(args.get("version_id") or self.latest, self.latest)

    def height(self):
        from ledger.client import RpcError

        if self.fail == "rpc":
            raise RpcError(-32603, "boom")
        return 100

    def query(self, path, key, height=0, prove=False):
        from ledger.client import QueryFailed

        raise QueryFailed(path, 4, "height pruned")


@pytest.fixture
def fake_node(db, monkeypatch):
    node = FakeNode()
    DidRegistry.objects.create(network=NetworkFactory(), namespace="fake-ns", public=True)
    monkeypatch.setattr("identity.ledger_reader.on_a_node",
                        lambda network, call: call(node))
    return node


@pytest.mark.parametrize("fail", ["query", "rpc"])
def test_a_node_refusing_a_proof_step_is_a_502(anon, fake_node, fail):
    fake_node.fail = fail
    assert get(anon, FAKE_DID).status_code == 200
    response = get(anon, FAKE_DID, RESULT, "proof=true")
    assert response.status_code == 502, response.content
    assert body(response)["didResolutionMetadata"]["error"] == "internalError"


def test_the_latest_version_by_id_is_not_cached_for_long(anon, fake_node, settings):
    """versionId=N of the latest version gains nextVersionId/nextUpdate at the next
    update: only a superseded version is cached for BAAS_DID_VERSION_CACHE_SECONDS."""
    settings.BAAS_DID_CACHE_SECONDS = 0  # the short time: "not at all" here
    settings.BAAS_DID_VERSION_CACHE_SECONDS = 3600
    first = body(get(anon, FAKE_DID, RESULT, "versionId=1"))["didDocumentMetadata"]
    assert "nextVersionId" not in first
    fake_node.latest = 2
    with_next = body(get(anon, FAKE_DID, RESULT, "versionId=1"))["didDocumentMetadata"]
    assert with_next.get("nextVersionId") == "2", "the cache kept version 1 as the latest"
    calls = fake_node.calls
    get(anon, FAKE_DID, RESULT, "versionId=1")
    assert fake_node.calls == calls  # cached now (a superseded version never changes)


def test_every_answer_has_the_short_cache_time(anon, fake_node, settings):
    settings.BAAS_DID_CACHE_SECONDS = 7
    fake_node.latest = 3
    for query in ("", "versionId=1", "versionId=3"):
        for accept in (None, RESULT):
            response = get(anon, FAKE_DID, accept, query)
            assert response.status_code == 200
            assert response["Cache-Control"] == "public, max-age=7", (query, accept)


def test_rfc3339_matches_the_chain_times():
    assert rfc3339(0) == "1970-01-01T00:00:00Z"


@pytest.mark.django_db
@pytest.mark.parametrize("path", [
    "%00", "%FF%FE", "did:key:" + "z" * 3000, "did:baas:a:" + "a" * 26 + "%3FversionId%3D1" * 50,
    "did:%E2%98%83:x", "did:baas:a:" + "a" * 26 + "%23" + "%25" * 10, "did:web:a..b",
    "did:web:" + "a" * 300 + ".com", "did:jwk:" + "e" * 1000, "did:baas:a:" + "a" * 26 + "/x/y",
    "did:baas:a:" + "a" * 26 + "%3FversionTime%3D9999-12-31T23:59:59Z",
    "did:baas:a:" + "a" * 26 + "%3FversionId%3D99999999999",
])
def test_bad_input_is_never_a_500(anon, path):
    response = anon.get(URL + path, {"service": "\x00"} if "web" in path else {})
    assert 400 <= response.status_code < 500, response.content
    assert_result_shape(body(response))


@pytest.mark.cometbft
@pytest.mark.slow
def test_did_baas_far_times_and_versions_are_4xx(anon, ledger_net, registry):
    _key, did, _h = new_did(ledger_net)
    assert get(anon, did, query="versionTime=9999-12-31T23:59:59Z").status_code == 200
    assert get(anon, did, query="versionTime=1900-01-01T00:00:00Z").status_code == 404
    assert get(anon, did, query="versionId=9999999999").status_code == 404
    assert get(anon, did, query="versionId=99999999999").status_code == 400
    assert get(anon, did, query="service=%00").status_code == 404
