"""Encryption at rest for node and identity private keys.

Keys are sealed with Fernet (AES-128-CBC + HMAC-SHA256, from ``cryptography``) under a
key-encryption key read from a FILE named by ``settings.BAAS_NODE_KEYS_KEY_FILE`` (or the
environment variable of that name, which holds the path) -- the key itself never comes
from an environment variable, and is never logged. The file may hold several keys, one per
line: the first encrypts, all of them decrypt, which is how the key is rotated (add a new
first line, run ``deploy.crypto.reseal`` over the rows, drop the old line).

In development the file is generated under ``var/`` on first use (mode 0600). In
production a missing file is a configuration error rather than a silently generated key,
because a lost key means every stored node key is lost with it.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class SealError(Exception):
    """A sealed value could not be opened (wrong key file or tampered data)."""


def key_file_path() -> Path:
    # The setting, else an environment variable holding the file's PATH (never the key).
    configured = getattr(settings, "BAAS_NODE_KEYS_KEY_FILE", None) or os.environ.get(
        "BAAS_NODE_KEYS_KEY_FILE"
    )
    if configured:
        return Path(configured)
    return Path(settings.VAR_DIR) / "secrets" / "node-keys.fernet"


def _generate_key_file(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    # O_EXCL: two processes starting at once must not both write a different key.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with os.fdopen(fd, "wb") as handle:
        handle.write(Fernet.generate_key() + b"\n")


@functools.lru_cache(maxsize=4)
def _fernet_for(path_str: str) -> MultiFernet:
    path = Path(path_str)
    if not path.exists():
        if getattr(settings, "PRODUCTION", False):
            raise ImproperlyConfigured(
                f"node key encryption key file {path} is missing "
                "(set BAAS_NODE_KEYS_KEY_FILE to a file holding a Fernet key)"
            )
        _generate_key_file(path)
    lines = [line.strip() for line in path.read_bytes().splitlines() if line.strip()]
    if not lines:
        raise ImproperlyConfigured(f"node key encryption key file {path} is empty")
    try:
        return MultiFernet([Fernet(line) for line in lines])
    except ValueError as exc:  # malformed key: say which file, never echo its content
        raise ImproperlyConfigured(f"node key encryption key file {path} is malformed") from exc


def _fernet() -> MultiFernet:
    return _fernet_for(str(key_file_path()))


def seal(plaintext: bytes) -> bytes:
    """Encrypt ``plaintext``; the result is safe to store in the database."""
    return _fernet().encrypt(plaintext)


def unseal(token: bytes) -> bytes:
    try:
        return _fernet().decrypt(bytes(token))
    except InvalidToken as exc:
        raise SealError("sealed key cannot be opened with the configured key file") from exc


def reseal(token: bytes) -> bytes:
    """Re-encrypt under the current primary key (key rotation)."""
    try:
        return _fernet().rotate(bytes(token))
    except InvalidToken as exc:
        raise SealError("sealed key cannot be opened with the configured key file") from exc


def reset_cache() -> None:
    """Forget loaded keys (tests that swap the key file)."""
    _fernet_for.cache_clear()
