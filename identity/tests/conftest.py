from __future__ import annotations

import pytest

from deploy.tests.factories import MembershipFactory, NetworkFactory
from identity.tests import fakechain


@pytest.fixture
def key_file(tmp_path, settings):
    """A fresh key-encryption key per test, never the developer's var/ one."""
    from deploy import crypto

    settings.BAAS_NODE_KEYS_KEY_FILE = str(tmp_path / "kek")
    crypto.reset_cache()
    yield tmp_path / "kek"
    crypto.reset_cache()


@pytest.fixture
def fake(monkeypatch, key_file):
    return fakechain.install(monkeypatch)


@pytest.fixture
def owner(db):
    return MembershipFactory(role="owner")


@pytest.fixture
def network(owner):
    return NetworkFactory(tenant=owner.tenant)


@pytest.fixture
def registry(owner, network, fake):
    from identity import services

    return services.registry_set(tenant=owner.tenant, actor=owner.user, network=network,
                                 namespace="seoul-welfare")
