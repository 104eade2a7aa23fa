from __future__ import annotations

import pytest
from django.test import Client

from deploy.models import NetworkIdentity, NetworkMembership
from deploy.tests.factories import MembershipFactory, NetworkFactory
from elections.tests import fakechain
from ledger.tx import Signer
from sectors.catalogue import version_key
from sectors.choices import DeploymentStatus
from sectors.models import Deployment, Template


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Rate limits and cached verdicts live in the cache; each test starts with none."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def owner(db):
    """The network's owner: its organisation holds the commission and trustee roles."""
    return MembershipFactory(role="owner")


@pytest.fixture
def partner(owner):
    """An admin of a second organisation of the network, a trustee only."""
    return MembershipFactory(role="admin")


@pytest.fixture
def network(owner, partner):
    net = NetworkFactory(tenant=owner.tenant, public_access=True, name="city-net")
    NetworkIdentity.objects.create(network=net, tenant=owner.tenant,
                                   organisation_id=owner.tenant.slug, member_id="platform",
                                   public_key="11" * 32, sealed_private_key=b"x")
    NetworkMembership.objects.create(network=net, tenant=partner.tenant, role="validator")
    return net


@pytest.fixture
def template():
    manifest = fakechain.manifest()
    return Template.objects.create(
        tenant=None, name="voting", version="1.0.0", version_key=version_key("1.0.0"),
        sector="voting", content_hash="f" * 64, manifest=manifest, source="# contract\n",
        review={"valid": True, "problems": []})


@pytest.fixture
def deployment(owner, partner, network, template):
    return Deployment.objects.create(
        network=network, tenant=owner.tenant, name="voting", active=template,
        target=template, status=DeploymentStatus.ACTIVE,
        roles={"commission": [owner.tenant.slug],
               "trustee": [owner.tenant.slug, partner.tenant.slug]})


@pytest.fixture
def chain(monkeypatch, deployment, owner, partner):
    fake = fakechain.FakeVoting(dict(deployment.roles))
    monkeypatch.setattr("elections.selectors.gateway.with_failover", fake.with_failover)
    monkeypatch.setattr("sectors.services.gateway.submit_tx", fake.submit_tx)
    monkeypatch.setattr("sectors.services.gateway.query", fake.query)
    monkeypatch.setattr("sectors.services.consortium.ensure_registered", lambda *a: None)

    def signer_for(*, network, tenant, user=None, token=None, request=None):
        key = Signer.from_private_bytes(f"{tenant.slug}:{user.pk}".encode()[:32].ljust(32, b"."))
        fake.signer_orgs[key.public_key_hex] = tenant.slug
        return key

    monkeypatch.setattr("sectors.services.keys.signer_for", signer_for)
    return fake


def signed_in(membership, lang="en") -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE=lang)
    client.force_login(membership.user)
    return client
