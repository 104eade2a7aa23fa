"""scripts/install-helm.sh: a cached Helm of the pinned version is reused at once, anything
else in the cache is rebuilt rather than trusted. (The build itself, minutes with a cold Go
cache, is what .ci/run does once; these tests never start it.)"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from conftest import require_service
from tests.chart.render import HELM_VERSION, helm_binary

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "install-helm.sh"


def _run(cache: Path) -> subprocess.CompletedProcess:
    # Go may not fetch anything and starts from empty caches: if the script tries to build,
    # `go install` fails at once and the script says so, instead of building for minutes.
    env = {**os.environ, "HELM_CACHE": str(cache), "GOPROXY": "off", "GOFLAGS": "-mod=mod",
           "GOMODCACHE": str(cache / "gomod"), "GOCACHE": str(cache / "gocache")}
    return subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True,
                          timeout=60)


def test_a_cached_helm_of_the_pinned_version_is_reused(tmp_path):
    real = helm_binary()
    require_service("helm", real is not None, "run scripts/install-helm.sh once")
    (tmp_path / "helm").symlink_to(real)
    started = time.monotonic()
    done = _run(tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == str(tmp_path / "helm")
    assert time.monotonic() - started < 10
    assert HELM_VERSION in subprocess.run([real, "version"], capture_output=True,
                                          text=True).stdout


@pytest.mark.parametrize("content", ["#!/bin/sh\necho v3.0.0\n", "not a program"])
def test_a_foreign_binary_in_the_cache_is_not_trusted(tmp_path, content):
    fake = tmp_path / "helm"
    fake.write_text(content)
    fake.chmod(0o755)
    done = _run(tmp_path)
    assert done.returncode != 0
    # It went on to build instead of printing the path.
    assert "building helm" in done.stderr and "go install" in done.stderr
    assert str(fake) not in done.stdout
