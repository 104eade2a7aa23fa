"""Where ``shared/conformance/`` is, and parameters for tests that read its vectors.

The directory sits next to the repository (``../shared/conformance``) on developers'
machines; ``BAAS_CONFORMANCE_DIR`` points elsewhere; without either, the did:key vectors
kept in ``vectors/`` are read. When none is there the tests that need it skip with the
reason, except in CI (``BAAS_REQUIRE_SERVICES=1``) where they fail: a green run must have
read the vectors.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from conftest import require_service

REPO = Path(__file__).resolve().parents[3]


VENDORED = Path(__file__).resolve().parent / "vectors"  # a copy of what the tests read


def conformance_dir() -> Path | None:
    env = os.environ.get("BAAS_CONFORMANCE_DIR")
    if env:
        return Path(env) if Path(env).is_dir() else None
    # ../shared next to the repository; a worktree or clone nested deeper finds it above.
    for base in REPO.parents:
        candidate = base / "shared" / "conformance"
        if candidate.is_dir():
            return candidate
    # elsewhere (a clone in /tmp): the copy kept with the tests (vectors/NOTICE.md)
    return VENDORED if VENDORED.is_dir() else None


def require_conformance() -> Path:
    found = conformance_dir()
    require_service(
        "conformance vectors",
        found is not None,
        f"no shared/conformance next to {REPO} (set BAAS_CONFORMANCE_DIR)",
    )
    assert found is not None
    return found


def load(relative: str) -> Any:
    return json.loads((require_conformance() / relative).read_text())


MISSING = pytest.param(None, id="conformance-dir-missing")
