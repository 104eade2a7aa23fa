"""scripts/install-cometbft.sh, download path, against a fake release served over loopback.

The fake release mirrors what CometBFT's goreleaser publishes: ``cometbft_V_OS_ARCH.tar.gz``
with the ``cometbft`` binary at its top level, and ``SHA256SUMS-V.txt`` beside it. Here the
"binary" is a shell script that prints the version.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import io
import os
import platform
import shutil
import subprocess
import tarfile
import threading
from pathlib import Path

import pytest

from conftest import require_service

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "install-cometbft.sh"
# Not the real pinned version, so a real cometbft already on PATH never short-circuits.
VERSION = "0.0.0-fake"
ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}

@pytest.fixture(autouse=True)
def _curl_and_a_known_machine() -> None:
    require_service("curl", shutil.which("curl") is not None
                    and platform.machine().lower() in ARCH,
                    "needs curl and an amd64 or arm64 machine")


def _archive_name() -> str:
    system = platform.system().lower()
    return f"cometbft_{VERSION}_{system}_{ARCH[platform.machine().lower()]}.tar.gz"


def _fake_archive(version: str) -> bytes:
    script = f"#!/bin/sh\necho {version}\n".encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data, mode in (("cometbft", script, 0o755), ("LICENSE", b"fake\n", 0o644)):
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest output clean
        pass


@pytest.fixture
def release(tmp_path):
    """A served release folder: (folder path, its URL)."""
    folder = tmp_path / "release"
    folder.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield folder, f"http://127.0.0.1:{server.server_address[1]}/v{VERSION}"
    finally:
        server.shutdown()
        server.server_close()


def _publish(folder: Path, archive: bytes, listed_sha256: str) -> None:
    """Write the archive and a goreleaser-style checksum file under v<VERSION>/."""
    out = folder / f"v{VERSION}"
    out.mkdir(exist_ok=True)
    (out / _archive_name()).write_bytes(archive)
    (out / f"SHA256SUMS-{VERSION}.txt").write_text(
        f"{'0' * 64}  cometbft_{VERSION}_windows_amd64.tar.gz\n"
        f"{listed_sha256}  {_archive_name()}\n"
    )


def _install(tmp_path: Path, url: str, **extra: str) -> subprocess.CompletedProcess:
    env = {
        k: v for k, v in os.environ.items()
        if not k.lower().endswith("_proxy") and not k.startswith("COMETBFT_")
    }
    env.update(
        HOME=str(tmp_path / "home"),
        COMETBFT_VERSION=VERSION,
        COMETBFT_BIN_DIR=str(tmp_path / "bin"),
        COMETBFT_INSTALL_METHOD="download",
        COMETBFT_RELEASE_URL=url,
        **extra,
    )
    return subprocess.run(
        ["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60
    )


def test_download_installs_checked_archive(tmp_path, release):
    folder, url = release
    archive = _fake_archive(VERSION)
    _publish(folder, archive, hashlib.sha256(archive).hexdigest())

    done = _install(tmp_path, url)

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == VERSION
    binary = tmp_path / "bin" / "cometbft"
    assert os.access(binary, os.X_OK)
    assert subprocess.run([binary, "version"], capture_output=True, text=True).stdout.strip() \
        == VERSION


def test_download_rejects_tampered_archive(tmp_path, release):
    folder, url = release
    good = _fake_archive(VERSION)
    tampered = _fake_archive(VERSION + "-evil")
    _publish(folder, tampered, hashlib.sha256(good).hexdigest())

    done = _install(tmp_path, url)

    assert done.returncode != 0
    assert "checksum mismatch" in done.stderr
    assert not (tmp_path / "bin" / "cometbft").exists()


def test_pinned_sha256_overrides_checksum_file(tmp_path, release):
    folder, url = release
    archive = _fake_archive(VERSION)
    _publish(folder, archive, hashlib.sha256(archive).hexdigest())

    done = _install(tmp_path, url, COMETBFT_SHA256="f" * 64)

    assert done.returncode != 0
    assert "checksum mismatch" in done.stderr
    assert not (tmp_path / "bin" / "cometbft").exists()


def test_missing_checksum_file_is_named(tmp_path, release):
    folder, url = release
    archive = _fake_archive(VERSION)
    _publish(folder, archive, hashlib.sha256(archive).hexdigest())
    (folder / f"v{VERSION}" / f"SHA256SUMS-{VERSION}.txt").unlink()

    done = _install(tmp_path, url)

    assert done.returncode != 0
    assert f"SHA256SUMS-{VERSION}.txt" in done.stderr
