"""A hash of the chaincode host's own source: what a node image runs.

Every validator of a network must execute blocks with the same code, or their app hashes
part. The node image build (``scripts/build-node-image.sh``) labels the image with this
hash of the ``ledger/`` tree it copied, and the Docker driver compares that label with the
hash of the ``ledger/`` the control plane runs before it creates a node, so a stale image
is refused with a clear error instead of failing (or forking) later.

    python -m ledger.source_hash      # prints the hash of this checkout's ledger/

The files are the ones the image build copies (its ``tar --exclude``): everything under
``ledger/`` except paths with a component named ``tests`` or ``__pycache__``, and ``*.pyc``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent
_SKIPPED = {"tests", "__pycache__"}  # as tar --exclude: any path component of that name


def source_hash(root: Path = ROOT) -> str:
    """16 hex digits over each file's path (relative to ``root``'s parent) and content."""
    digest = hashlib.sha256()
    files = sorted(
        p for p in root.rglob("*")
        if p.is_file() and p.suffix != ".pyc"
        and not _SKIPPED.intersection(p.relative_to(root).parts)
    )
    for path in files:
        digest.update(path.relative_to(root.parent).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:16]


if __name__ == "__main__":
    print(source_hash())
