from __future__ import annotations

import shutil

import pytest

from conftest import require_service
from deploy import rpc
from deploy.tests.factories import MembershipFactory
from deploy.tests.fakes import FakeDriver


@pytest.fixture
def owner(db):
    return MembershipFactory(role="owner")


@pytest.fixture
def key_file(tmp_path, settings):
    """A fresh key-encryption key per test, never the developer's var/ one."""
    from deploy import crypto

    settings.BAAS_NODE_KEYS_KEY_FILE = str(tmp_path / "kek")
    crypto.reset_cache()
    yield tmp_path / "kek"
    crypto.reset_cache()


@pytest.fixture
def cometbft():
    require_service("cometbft", shutil.which("cometbft") is not None, "binary not on PATH")


@pytest.fixture
def fake_driver(monkeypatch, key_file, settings):
    """Tasks and reconciler see an in-memory driver; RPC answers from its running flags."""
    driver = FakeDriver()
    monkeypatch.setattr("deploy.drivers.registry.get_driver", lambda name: driver)
    monkeypatch.setattr("deploy.drivers.registry.AVAILABLE_DRIVERS", ("local",))
    settings.DEPLOY_FIRST_BLOCK_TIMEOUT_S = 1
    settings.BAAS_INSTALL_ID = "test-install"
    driver.height = 3
    driver.healthy = True

    def fake_status(url: str, *, timeout: float = 2.0) -> rpc.NodeStatusInfo:
        running = any(e.get("running") and e.get("rpc") == url for e in driver.nodes.values())
        if not running or not driver.healthy:
            raise rpc.RpcError(f"{url}: connection refused")
        return rpc.NodeStatusInfo(height=driver.height, catching_up=False, node_id="x")

    monkeypatch.setattr("deploy.rpc.status", fake_status)
    return driver
