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
