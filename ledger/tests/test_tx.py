"""Transaction envelope: canonical encoding, signature round trips and rejections."""

from __future__ import annotations

import json

import pytest

from ledger import canonical
from ledger.errors import Code, TxError
from ledger.tx import MAX_TX_BYTES, Signer, build_tx, decode_tx, tx_hash


@pytest.fixture(scope="module")
def signer() -> Signer:
    return Signer.from_private_bytes(bytes(range(32)))


def make(signer: Signer, **overrides: object) -> bytes:
    fields = {"chain_id": "test-chain", "chaincode": "kv", "function": "put",
              "args": ["k", {"b": 2, "a": [1, "ü"]}], "nonce": "0123456789abcdef",
              "time_ms": 1_700_000_000_000}
    fields.update(overrides)
    return build_tx(signer=signer, **fields)  # type: ignore[arg-type]


def test_round_trip(signer: Signer) -> None:
    raw = make(signer)
    tx = decode_tx(raw)
    assert (tx.chain_id, tx.chaincode, tx.function) == ("test-chain", "kv", "put")
    assert tx.args == ["k", {"a": [1, "ü"], "b": 2}]
    assert tx.signer == signer.public_key_hex
    assert tx.hash == tx_hash(raw) and len(tx.hash) == 64
    assert raw == canonical.encode(json.loads(raw))  # already canonical


def test_encoding_is_deterministic_and_key_order_independent(signer: Signer) -> None:
    assert make(signer, args={"b": 1, "a": 2}) == make(signer, args={"a": 2, "b": 1})


def test_random_nonces_make_distinct_txs(signer: Signer) -> None:
    a = build_tx(signer=signer, chain_id="c", chaincode="kv", function="put", args=[])
    b = build_tx(signer=signer, chain_id="c", chaincode="kv", function="put", args=[])
    assert decode_tx(a).nonce != decode_tx(b).nonce
    assert decode_tx(a).body_hash != decode_tx(b).body_hash


def test_private_key_round_trip(signer: Signer) -> None:
    again = Signer.from_private_bytes(signer.private_bytes())
    assert again.public_key_hex == signer.public_key_hex
    assert signer.private_bytes().hex() not in repr(signer)


def _tamper(raw: bytes, **changes: object) -> bytes:
    obj = json.loads(raw)
    obj.update(changes)
    return canonical.encode(obj)


@pytest.mark.parametrize("field, value", [
    ("args", ["k", "other"]), ("chain_id", "other-chain"), ("function", "delete"),
    ("nonce", "ffffffffffffffff"), ("time_ms", 1),
])
def test_changed_field_breaks_signature(signer: Signer, field: str, value: object) -> None:
    with pytest.raises(TxError) as info:
        decode_tx(_tamper(make(signer), **{field: value}))
    assert info.value.code == Code.BAD_SIGNATURE


def test_other_signer_key_breaks_signature(signer: Signer) -> None:
    other = Signer.generate()
    with pytest.raises(TxError) as info:
        decode_tx(_tamper(make(signer), signer=other.public_key_hex))
    assert info.value.code == Code.BAD_SIGNATURE


@pytest.mark.parametrize("mutate, message", [
    (lambda raw: raw + b" ", "not canonical"),
    (lambda raw: json.dumps(json.loads(raw), indent=1).encode(), "not in canonical form"),
    (lambda raw: b"[1,2]", "must be a JSON object"),
    (lambda raw: b"\xff\xfe", "not UTF-8"),
    (lambda raw: raw.replace(b'"v":1', b'"v":1.0'), "floats are not allowed"),
    (lambda raw: raw.replace(b'"v":1', b'"v":1,"v":1'), "duplicate object key"),
    (lambda raw: _tamper(raw, extra=1), "unknown ['extra']"),
    (lambda raw: _tamper(raw, v=2), "unsupported tx version"),
    (lambda raw: _tamper(raw, sig="zz"), "sig must be 128"),
    (lambda raw: _tamper(raw, signer="AB" * 32), "signer must be"),
    (lambda raw: _tamper(raw, nonce="short"), "nonce must be"),
    (lambda raw: _tamper(raw, chaincode="Bad Name"), "chaincode name"),
    (lambda raw: _tamper(raw, args="str"), "args must be"),
    (lambda raw: _tamper(raw, time_ms=-1), "time_ms must be"),
])
def test_malformed_envelopes_are_rejected(signer: Signer, mutate, message: str) -> None:
    with pytest.raises(TxError) as info:
        decode_tx(mutate(make(signer)))
    assert info.value.code == Code.MALFORMED_TX
    assert message in info.value.message


def test_args_depth_limit(signer: Signer) -> None:
    deep: object = 1
    for _ in range(12):
        deep = [deep]
    with pytest.raises(TxError) as info:
        make(signer, args=[deep])
    assert info.value.code == Code.MALFORMED_TX and "nesting" in info.value.message


def test_size_limit(signer: Signer) -> None:
    with pytest.raises(TxError) as info:
        make(signer, args=["x" * MAX_TX_BYTES])
    assert info.value.code == Code.TX_TOO_LARGE
    with pytest.raises(TxError) as info:
        decode_tx(b"{" + b" " * MAX_TX_BYTES + b"}")
    assert info.value.code == Code.TX_TOO_LARGE


def test_integers_outside_64_bits_are_refused(signer: Signer) -> None:
    with pytest.raises(TxError) as info:
        make(signer, args=[2**63])
    assert info.value.code == Code.MALFORMED_TX
