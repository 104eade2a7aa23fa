"""Shared pytest plumbing: real-service checks that skip locally and fail in CI.

Tests that need a real service (PostgreSQL, Redis, Docker Engine, CometBFT, Chromium) call
``require_service(name, available, reason)``. On a developer machine a missing service skips
the test with the reason; when ``BAAS_REQUIRE_SERVICES=1`` (set by ``.ci/run``) it fails, so
CI can never go green by skipping the tests that matter.
"""

import os
from dataclasses import dataclass
from pathlib import Path

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


@dataclass(frozen=True)
class KubeEnv:
    """The real API server of ``scripts/kube-test-env.sh`` (no kubelet: pods never run)."""

    kubeconfig: str  # cluster admin: fixtures and checks
    driver_kubeconfig: str  # user ``baas-driver``, no rights until a test binds a role to it


def _kube_env() -> tuple[KubeEnv | None, str]:
    path = os.environ.get("KUBECONFIG") or str(
        Path(__file__).resolve().parent / "var" / "kube-test-env" / "kubeconfig")
    if not Path(path).is_file():
        return None, f"no kubeconfig at {path}; run scripts/kube-test-env.sh start"
    driver = str(Path(path).with_name("kubeconfig-driver"))
    try:
        from kubernetes import client, config

        api = config.new_client_from_config(config_file=path)
        api.configuration.retries = 0
        client.VersionApi(api).get_code(_request_timeout=5)
    except Exception as exc:  # any failure means "not usable here"; the reason is shown
        return None, f"the API server of {path} does not answer: {exc}"
    return KubeEnv(kubeconfig=path, driver_kubeconfig=driver), ""


@pytest.fixture(scope="session")
def kube_env() -> KubeEnv:
    """A real kube-apiserver with etcd (tests marked ``kubernetes``): skipped on a developer
    machine without one, failed in CI."""
    env, reason = _kube_env()
    require_service("kube-apiserver", env is not None, reason)
    assert env is not None
    return env


def _moto_server() -> tuple[str | None, str]:
    configured = os.environ.get("BAAS_TEST_MOTO_SERVER")
    if configured:
        return (configured, "") if Path(configured).is_file() else (
            None, f"BAAS_TEST_MOTO_SERVER names {configured}, which does not exist")
    pins = Path(__file__).resolve().parent / "scripts" / "s3-test-server.txt"
    import hashlib

    digest = hashlib.sha256(pins.read_bytes()).hexdigest()[:12]
    path = Path.home() / ".cache" / "baas" / f"moto-{digest}" / "bin" / "moto_server"
    if path.is_file():
        return str(path), ""
    return None, f"no {path}; run scripts/s3-test-server.sh build"


@pytest.fixture(scope="session")
def s3_server():
    """A real S3-compatible HTTP server on loopback (moto_server, tests marked ``s3``),
    started for the session on a free port: skipped on a developer machine without it,
    failed in CI. Yields its endpoint URL."""
    import socket
    import subprocess
    import time
    import urllib.request

    binary, reason = _moto_server()
    require_service("moto_server (S3)", binary is not None, reason)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen([binary, "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=2).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    require_service("moto_server (S3)", False,
                                    f"{binary} did not answer on {endpoint}")
                time.sleep(0.2)
        yield endpoint
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
