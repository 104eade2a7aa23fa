"""The adversarial corpus (``sandbox_corpus.py``) in CI: every hostile case ends with its
expected code, and the whole corpus gives the same outcomes and app
hash under different hash seeds and integer-conversion limits (and another Python build
when one with the ledger's dependencies is installed)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from conftest import require_service
from ledger.tests.sandbox_corpus import CASES, Case, run_case

ROOT = Path(__file__).resolve().parents[2]
ISSUE_CLASSES = {"chain halt", "host crash", "unbounded output", "unmetered host call",
                 "unmetered builtin", "unmetered memory", "nondeterminism"}


def test_corpus_covers_every_class_with_at_least_100_cases() -> None:
    kinds = Counter(case.kind for case in CASES)
    assert len(CASES) >= 100
    assert ISSUE_CLASSES <= set(kinds)
    assert min(kinds[k] for k in ISSUE_CLASSES) >= 5
    assert len({case.name for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_hostile_case_ends_as_expected(case: Case) -> None:
    """(Identical outcomes across processes are checked by the digest test below.)"""
    outcome = run_case(case)
    assert outcome.code == case.expect, f"{case.name}: {outcome.code} {outcome.message!r}"


def _digest(env: dict[str, str], python: str = sys.executable) -> subprocess.Popen[str]:
    return subprocess.Popen([python, "-m", "ledger.tests.sandbox_corpus"], cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT), **env},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _result(proc: subprocess.Popen[str]) -> dict[str, str]:
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-2000:]
    return json.loads(out.strip().splitlines()[-1])


def test_corpus_outcomes_and_app_hash_do_not_depend_on_hash_seed_or_int_digit_limit() -> None:
    """Three processes: different PYTHONHASHSEEDs, and the smallest and no limit on
    int/str conversions (PYTHONINTMAXSTRDIGITS=640 / 0); outcomes (codes, messages,
    steps, results) and the chain's app hash must be identical."""
    envs = [{"PYTHONHASHSEED": "1", "PYTHONINTMAXSTRDIGITS": "640"},
            {"PYTHONHASHSEED": "2", "PYTHONINTMAXSTRDIGITS": "0"},
            {"PYTHONHASHSEED": "3"}]
    procs = [_digest(env) for env in envs]
    results = [_result(proc) for proc in procs]
    assert results[0] == results[1] == results[2]


def _other_python() -> str | None:
    """Another CPython (minor version) on this machine that has the ledger's dependencies."""
    mine = f"{sys.version_info.major}.{sys.version_info.minor}"
    candidates = sorted(Path(os.path.expanduser("~/.pyenv/versions")).glob("3.*/bin/python3"))
    candidates += [Path(p) for p in (shutil.which(f"python3.{m}") for m in range(10, 15)) if p]
    for candidate in candidates:
        check = subprocess.run([str(candidate), "-c",
                                "import sys, RestrictedPython, cryptography, prometheus_client, "
                                "coincurve; "
                                "print(f'{sys.version_info[0]}.{sys.version_info[1]}')"],
                               capture_output=True, text=True)
        if check.returncode == 0 and check.stdout.strip() != mine:
            return str(candidate)
    return None


def test_corpus_gives_the_same_outcomes_on_another_python_version() -> None:
    other = _other_python()
    # CI gives one (.ci/run installs the sandbox's packages into another pyenv CPython).
    require_service("a second CPython minor version with RestrictedPython, cryptography and "
                    "coincurve",
                    other is not None, "see .ci/run")
    assert other is not None
    assert _result(_digest({}, other)) == _result(_digest({}))
