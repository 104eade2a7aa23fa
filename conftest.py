"""Shared pytest plumbing: real-service checks that skip locally and fail in CI.

Tests that need a real service (PostgreSQL, Redis, Docker Engine, CometBFT, Chromium) call
``require_service(name, available, reason)``. On a developer machine a missing service skips
the test with the reason; when ``BAAS_REQUIRE_SERVICES=1`` (set by ``.ci/run``) it fails, so
CI can never go green by skipping the tests that matter.
"""

import os

import pytest


def services_required() -> bool:
    return os.environ.get("BAAS_REQUIRE_SERVICES", "") == "1"


def require_service(name: str, available: bool, reason: str = "") -> None:
    if available:
        return
    message = f"{name} is not available" + (f": {reason}" if reason else "")
    if services_required():
        pytest.fail(message + " (BAAS_REQUIRE_SERVICES=1)", pytrace=False)
    pytest.skip(message)
