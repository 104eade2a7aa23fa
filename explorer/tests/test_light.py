"""``ledger.light`` on headers and commits of a real CometBFT validator (the package's
network), plus a four-validator commit made here to test the two-thirds rule.

The real node anchors the encodings: a header hash that differs from CometBFT's by one
byte, or vote sign bytes that do, fails the first test."""

from __future__ import annotations

import base64
import copy

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from explorer.tests.conftest import CHAIN_ID
from ledger import light

pytestmark = pytest.mark.cometbft


def _known(client, height: int) -> dict[str, bytes]:
    """The validators as the node's genesis made them (the platform records the same)."""
    found = client.rpc("validators", {"height": str(height)})["validators"]
    return {v["address"]: base64.b64decode(v["pub_key"]["value"]) for v in found}


def _signed_header(client, height: int) -> dict:
    return client.rpc("commit", {"height": str(height)})["signed_header"]


def _wait_height(client, height: int) -> None:
    import time

    deadline = time.monotonic() + 60
    while client.height() < height:
        assert time.monotonic() < deadline, "no new blocks"
        time.sleep(0.2)


def test_real_headers_check_and_their_app_hash_is_the_blocks(chain):
    _url, client = chain
    _wait_height(client, 3)
    for height in (1, 2, client.height()):
        signed = light.check_signed_header(_signed_header(client, height), chain_id=CHAIN_ID,
                                           validators=_known(client, height))
        assert signed.trusted and signed.known == 1 and len(signed.signed) == 1
        header = client.block(height)["block"]["header"]
        assert signed.height == height and signed.app_hash == header["app_hash"].upper()


@pytest.mark.parametrize(("field", "value"), [
    ("app_hash", "AB" * 32), ("time", "2026-01-01T00:00:00Z"), ("data_hash", ""),
    ("validators_hash", "00" * 32), ("proposer_address", "11" * 20),
    ("version", {"block": "12", "app": "1"}),
])
def test_a_header_edited_in_any_field_is_not_the_signed_block(chain, field, value):
    _url, client = chain
    height = client.height()
    signed_header = _signed_header(client, height)
    signed_header["header"][field] = value
    with pytest.raises(light.LightError, match="not the block the commit signs"):
        light.check_signed_header(signed_header, chain_id=CHAIN_ID,
                                  validators=_known(client, height))


def test_another_chain_height_or_a_broken_signature_is_refused_or_not_counted(chain):
    _url, client = chain
    height = client.height()
    known = _known(client, height)
    original = _signed_header(client, height)
    other = copy.deepcopy(original)
    with pytest.raises(light.LightError, match="another chain"):
        light.check_signed_header(other, chain_id="another-chain", validators=known)
    other["commit"]["height"] = str(height + 1)
    with pytest.raises(light.LightError, match="another height"):
        light.check_signed_header(other, chain_id=CHAIN_ID, validators=known)
    for edit in ({"timestamp": "2020-01-01T00:00:00Z"}, {"signature": base64.b64encode(
            b"\x00" * 64).decode()}, {"signature": "not base64!"}, {"block_id_flag": 3}):
        tampered = copy.deepcopy(original)
        tampered["commit"]["signatures"][0].update(edit)
        signed = light.check_signed_header(tampered, chain_id=CHAIN_ID, validators=known)
        assert signed.signed == () and not signed.trusted, edit
    # a validator the caller does not know counts for nothing, however good its signature
    signed = light.check_signed_header(original, chain_id=CHAIN_ID, validators={})
    assert signed.signed == () and not signed.trusted


@pytest.mark.parametrize("junk", [None, 7, "x", [], {"header": {}, "commit": {}},
                                  {"header": {"chain_id": CHAIN_ID, "height": True},
                                   "commit": {"height": True}}])
def test_malformed_answers_are_light_errors(junk):
    with pytest.raises(light.LightError):
        light.check_signed_header(junk, chain_id=CHAIN_ID, validators={})


@pytest.mark.parametrize(("where", "field", "value"), [
    ("header", "height", "9999999999999999999"), ("header", "height", "0"),
    ("header", "height", 1.5), ("header", "version", {"block": "-1", "app": "1"}),
    ("header", "version", {"block": "99999999999999999999999"}), ("header", "version", []),
    ("header", "time", "2024-02-30T00:00:00Z"), ("header", "time", "2024-13-01T00:00:00Z"),
    ("header", "time", "0000-01-01T00:00:00Z"), ("header", "time", 1700000000),
    ("header", "last_block_id", {"hash": "", "parts": {"total": -1, "hash": ""}}),
    ("header", "last_block_id", {"hash": "", "parts": {"total": 2**33, "hash": ""}}),
    ("header", "last_block_id", {"hash": "ABC", "parts": {"total": 1, "hash": ""}}),
    ("header", "app_hash", ["AB"]), ("header", "chain_id", None),
    ("commit", "block_id", {"hash": "00", "parts": {"total": "x", "hash": ""}}),
    ("commit", "round", "99999999999"), ("commit", "round", None),
    ("commit", "signatures", {"0": {}}),
])
def test_hostile_field_values_are_light_errors_never_other_exceptions(chain, where, field,
                                                                      value):
    """Whatever a node puts in its answer is a ``LightError`` (the explorer then asks
    another node), never a ValueError that would answer 500."""
    _url, client = chain
    height = client.height()
    signed_header = _signed_header(client, height)
    signed_header[where][field] = value
    with pytest.raises(light.LightError):
        light.check_signed_header(signed_header, chain_id=CHAIN_ID,
                                  validators=_known(client, height))


def _commit_of(header: dict, keys: list[Ed25519PrivateKey], signing: int) -> dict:
    """A commit of ``header`` by the first ``signing`` of ``keys`` (the others absent)."""
    block_hash = light.header_hash(header)
    block_id = {"hash": block_hash.hex().upper(), "parts": {"total": 1, "hash": "AA" * 32}}
    sigs = []
    for i, key in enumerate(keys):
        public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        if i >= signing:
            sigs.append({"block_id_flag": 1, "validator_address": "", "timestamp":
                         "0001-01-01T00:00:00Z", "signature": None})
            continue
        stamp = f"2026-12-05T00:00:0{i}.{i:09d}Z"
        message = light.vote_sign_bytes(
            chain_id=CHAIN_ID, height=int(header["height"]), round_=0,
            block_id=light._block_id(block_id, "block_id"),
            timestamp=light._timestamp(stamp, "timestamp"))
        sigs.append({"block_id_flag": 2, "validator_address": light.address_of(public),
                     "timestamp": stamp,
                     "signature": base64.b64encode(key.sign(message)).decode()})
    return {"height": header["height"], "round": 0, "block_id": block_id,
            "signatures": sigs}


def test_more_than_two_thirds_of_the_known_validators_must_sign(chain):
    _url, client = chain
    header = _signed_header(client, client.height())["header"]
    keys = [Ed25519PrivateKey.generate() for _ in range(4)]
    known = {light.address_of(k.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)):
             k.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw) for k in keys}
    for signing, trusted in ((2, False), (3, True), (4, True)):
        signed = light.check_signed_header({"header": header,
                                            "commit": _commit_of(header, keys, signing)},
                                           chain_id=CHAIN_ID, validators=known)
        assert (len(signed.signed), signed.trusted) == (signing, trusted)
    # one validator's signature repeated does not count twice
    commit = _commit_of(header, keys, 2)
    commit["signatures"] += [commit["signatures"][0], commit["signatures"][1]]
    signed = light.check_signed_header({"header": header, "commit": commit},
                                       chain_id=CHAIN_ID, validators=known)
    assert len(signed.signed) == 2 and not signed.trusted


# -- the proof API: which node's header is used ------------------------------------------------
class _JunkNode:
    """An RPC endpoint answering every call with ``body`` (a node gone wrong)."""

    def __init__(self, body: bytes) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, HTTPServer

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 -- the http.server name
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _proof_network(url: str, client, *, pub_key: str | None = None, **node):
    from deploy.choices import NodeHealth
    from deploy.tests.factories import NetworkFactory, NodeFactory

    network = NetworkFactory(validator_count=1, chain_id=CHAIN_ID)
    real = client.rpc("validators")["validators"][0]["pub_key"]["value"]
    NodeFactory(network=network, rpc_url=url, health=NodeHealth.HEALTHY, index=0,
                validator_pub_key=real if pub_key is None else pub_key, **node)
    return network


def _proof(network, key: str = "proved"):
    from baas.testing import api_client_for
    from deploy.tests.factories import MembershipFactory

    viewer = MembershipFactory(tenant=network.tenant, role="viewer")
    return api_client_for(viewer.user, viewer.tenant).get(
        f"/api/v1/networks/{network.pk}/explorer/state/kv/proof/", {"key": key})


@pytest.mark.django_db
def test_the_proof_is_taken_from_a_node_whose_header_the_recorded_validators_signed(chain):
    from deploy.tests.factories import NodeFactory
    from ledger.state import verify_proof

    url, client = chain
    client.submit("kv", "put", ["proved", "yes"], wait="commit")
    # the proof is of the state below the newest block: one more block holds the write
    _wait_height(client, client.height() + 1)
    junk = _JunkNode(b'{"result": {"sync_info": {"latest_block_height": "99"}}}')
    try:
        network = _proof_network(url, client)
        # asked first (healthy, highest height), answers junk: the next node is asked
        NodeFactory(network=network, rpc_url=junk.url, health="healthy", index=1,
                    height=client.height() + 5)
        res = _proof(network)
    finally:
        junk.close()
    assert res.status_code == 200, res.content
    answer = res.json()
    assert answer["signed"] == {"validators": 1, "of": 1, "trusted": True}
    assert verify_proof(key=b"kv/proved", value=bytes.fromhex(answer["value_hex"]),
                        proof=answer["proof"], app_hash=bytes.fromhex(answer["app_hash"]))


@pytest.mark.django_db
def test_a_header_no_recorded_validator_signed_is_shown_as_not_trusted(chain):
    url, client = chain
    other = base64.b64encode(Ed25519PrivateKey.generate().public_key().public_bytes(
        Encoding.Raw, PublicFormat.Raw)).decode()
    res = _proof(_proof_network(url, client, pub_key=other))
    assert res.status_code == 200, res.content
    assert res.json()["signed"] == {"validators": 0, "of": 1, "trusted": False}


@pytest.mark.django_db
def test_a_node_far_behind_the_recorded_height_proves_nothing(chain):
    url, client = chain
    network = _proof_network(url, client, height=client.height() + 10_000)
    res = _proof(network)
    assert res.status_code == 503 and res.json()["error"]["code"] == "gateway_unavailable"
    assert "the network was at" in str(res.json()["error"]["details"])


@pytest.mark.django_db
@pytest.mark.parametrize(("claimed", "recorded_above"), [
    ("1000000000000000", 10**15),  # a node lying high: it must not make the others stale
    ("1", 5),  # a node with no proven state, asked first: the next node is asked
])
def test_one_misbehaving_node_never_stops_the_honest_nodes_proofs(chain, claimed,
                                                                  recorded_above):
    from deploy.tests.factories import NodeFactory

    url, client = chain
    client.submit("kv", "put", ["proved", "yes"], wait="commit")
    _wait_height(client, client.height() + 1)
    junk = _JunkNode(b'{"result": {"sync_info": {"latest_block_height": "%s"}}}'
                     % claimed.encode())
    try:
        top = client.height()
        network = _proof_network(url, client, height=top)
        for index in (1, 2):  # two more honest nodes (no validator key of their own)
            NodeFactory(network=network, rpc_url=url, health="healthy", index=index,
                        height=top, validator_pub_key="")
        NodeFactory(network=network, rpc_url=junk.url, health="healthy", index=3,
                    height=top + recorded_above, validator_pub_key="")
        res = _proof(network)
    finally:
        junk.close()
    assert res.status_code == 200, res.content
    assert res.json()["signed"] == {"validators": 1, "of": 1, "trusted": True}
