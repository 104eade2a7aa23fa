from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

from deploy import crypto


def test_seal_round_trip_and_no_plaintext(key_file):
    secret = b'{"priv_key": {"value": "c2VjcmV0"}}'
    sealed = crypto.seal(secret)
    assert secret not in sealed and b"c2VjcmV0" not in sealed
    assert crypto.unseal(sealed) == secret
    assert key_file.stat().st_mode & 0o777 == 0o600


def test_tampered_or_foreign_token_is_refused(key_file):
    sealed = bytearray(crypto.seal(b"key"))
    sealed[-5] ^= 1
    with pytest.raises(crypto.SealError):
        crypto.unseal(bytes(sealed))
    with pytest.raises(crypto.SealError):
        crypto.unseal(Fernet(Fernet.generate_key()).encrypt(b"key"))


def test_rotation_new_first_key_encrypts_old_still_decrypts(key_file):
    old_token = crypto.seal(b"node key")
    old_key = key_file.read_bytes().strip()
    key_file.write_bytes(Fernet.generate_key() + b"\n" + old_key + b"\n")
    crypto.reset_cache()
    assert crypto.unseal(old_token) == b"node key"
    resealed = crypto.reseal(old_token)
    key_file.write_bytes(key_file.read_bytes().splitlines()[0] + b"\n")  # drop the old key
    crypto.reset_cache()
    assert crypto.unseal(resealed) == b"node key"
    with pytest.raises(crypto.SealError):
        crypto.unseal(old_token)


def test_production_refuses_to_invent_a_key(tmp_path, settings):
    settings.BAAS_NODE_KEYS_KEY_FILE = str(tmp_path / "missing")
    settings.PRODUCTION = True
    crypto.reset_cache()
    with pytest.raises(ImproperlyConfigured, match="missing"):
        crypto.seal(b"x")
    assert not (tmp_path / "missing").exists()
    crypto.reset_cache()


def test_malformed_key_file_is_named_not_echoed(tmp_path, settings):
    bad = tmp_path / "bad"
    bad.write_text("not-a-fernet-key\n")
    settings.BAAS_NODE_KEYS_KEY_FILE = str(bad)
    crypto.reset_cache()
    with pytest.raises(ImproperlyConfigured) as err:
        crypto.seal(b"x")
    assert str(bad) in str(err.value) and "not-a-fernet-key" not in str(err.value)
    crypto.reset_cache()
