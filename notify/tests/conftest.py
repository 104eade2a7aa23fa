from __future__ import annotations

import pytest

# The deploy app's fixtures: a fresh key file, an owner, the in-memory driver.
from deploy.tests.conftest import cometbft, fake_driver, key_file, owner  # noqa: F401
from notify.tests.receiver import Receiver


@pytest.fixture
def receiver():
    r = Receiver().start()
    yield r
    r.stop()


@pytest.fixture
def allow_private(settings):
    """The receiver listens on 127.0.0.1: allowed only when the operator says so."""
    settings.BAAS_WEBHOOK_ALLOW_PRIVATE = True
    settings.BAAS_WEBHOOK_BACKOFF_S = 0
    settings.BAAS_WEBHOOK_TIMEOUT_S = 2
