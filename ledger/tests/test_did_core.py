"""did:baas rules shared by _did and the host: the signed message, suffixes, key checks."""

from __future__ import annotations

import pytest

from ledger.did_core import SUFFIX, parse_did_url
from ledger.ed25519 import is_valid_public_key, verify
from ledger.errors import LedgerError
from ledger.system.did import derive_suffix, op_message, validate_state
from ledger.tests.did_helpers import key_state
from ledger.tx import Signer

# The eight points of small order (RFC 8032 encodings) and non-canonical twins of two.
SMALL_ORDER = [
    "01" + "00" * 31, "ec" + "ff" * 30 + "7f", "00" * 32, "00" * 31 + "80",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
    "ee" + "ff" * 30 + "7f",  # y = p + 1: a non-canonical encoding of y = 1
]


def test_op_message_is_the_domain_and_canonical_json() -> None:
    assert op_message("c", "d", "create", 0, None) == (
        b'ledger/did/v1\x00{"chain_id":"c","did":"d","op":"create","prev":0,"state":null}')
    state = {"b": [1], "a": "\u00e9"}  # sorted keys, UTF-8, no spaces
    assert op_message("c", "d", "update", 2, state).endswith(
        '"prev":2,"state":{"a":"é","b":[1]}}'.encode())


def test_suffix_is_base32_of_the_first_16_bytes_of_sha256() -> None:
    key = bytes(range(32))
    # sha256(bytes(range(32)))[:16] = 630dcd2966c4336691125448bbb25b4f, in RFC 4648 base32
    assert derive_suffix(key) == "mmg42klgyqzwneiskrelxms3j4"
    for _ in range(20):
        assert SUFFIX.match(derive_suffix(Signer.generate().public_key_bytes))


def test_only_usable_ed25519_keys_pass() -> None:
    for _ in range(50):
        assert is_valid_public_key(Signer.generate().public_key_bytes)
    for encoded in SMALL_ORDER:
        assert not is_valid_public_key(bytes.fromhex(encoded)), encoded
    assert not is_valid_public_key(bytes([2]) + bytes(31))  # y = 2 is on no point
    assert not is_valid_public_key(bytes(31))
    signer = Signer.generate()
    assert verify(signer.public_key_bytes, signer.sign(b"m"), b"m")
    assert not verify(signer.public_key_bytes, signer.sign(b"m"), b"n")
    assert not verify(signer.public_key_bytes, b"\x00" * 63, b"m")


def test_validate_state_returns_the_state_as_given() -> None:
    state = key_state(Signer.generate())
    assert validate_state(state) is state
    with pytest.raises(LedgerError):
        validate_state({**state, "service": [{"id": "s", "type": "T",
                                              "serviceEndpoint": "https://"}]})


def test_did_urls() -> None:
    suffix = "a" * 26
    assert parse_did_url(f"did:baas:ns:{suffix}#key-1", fragment=True) == ("ns", suffix, "key-1")
    assert parse_did_url("did:web:example.org", fragment=True) == (None, "", None)
    for bad in ("", "did:", "x" * 600, f"did:baas:ns:{suffix}?versionId=1",
                f"did:baas:-ns:{suffix}", f"did:baas:ns:{suffix[:-1]}",
                f"did:baas:ns:{suffix}\n", f"did:baas:ns:{suffix}#key-1\n"):
        with pytest.raises(LedgerError):
            parse_did_url(bad, fragment=True)
    with pytest.raises(LedgerError):
        parse_did_url(f"did:baas:ns:{suffix}#key-1", fragment=False)
