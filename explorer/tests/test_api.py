"""Explorer API without a running chain: who may read, bad input refused before any node is
asked, and how signer keys map to people (the real chain:
tests/browser/test_explorer_browser.py)."""

from __future__ import annotations

import uuid

import pytest
from rest_framework.test import APIClient

from baas.testing import api_client_for
from deploy.choices import NetworkStatus
from deploy.models import NetworkMembership, SigningKey
from deploy.tests.factories import MembershipFactory, NetworkFactory
from explorer import selectors

pytestmark = pytest.mark.django_db

ENDPOINTS = ["", "blocks/", "blocks/3/", "txs/" + "ab" * 32 + "/", "search/?q=kv",
             "validators/", "chaincodes/", "state/kv/", "state/kv/proof/?key=a"]


def _url(network, tail: str) -> str:
    return f"/api/v1/networks/{network.pk}/explorer/{tail}"


def _token_client(member, scopes: list[str]) -> APIClient:
    """A token of ``member``'s organisation (made by a developer: viewers make none)."""
    from tenants import services as tenant_services

    member = MembershipFactory(tenant=member.tenant, role="developer")
    _row, raw = tenant_services.token_create(
        tenant=member.tenant, actor=member.user, membership=member, name="explorer",
        scopes=scopes)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


@pytest.fixture
def stopped():
    """A network whose chain cannot be read: every read that passes the checks answers
    409 network_not_running (the gateway's rule), which proves the checks passed."""
    owner = MembershipFactory(role="viewer")
    return owner, NetworkFactory(tenant=owner.tenant, status=NetworkStatus.STOPPED)


@pytest.mark.parametrize("tail", ENDPOINTS)
def test_a_viewer_and_a_read_token_pass_another_tenant_gets_404(stopped, tail):
    viewer, network = stopped
    expected = 200 if tail == "" else 409
    res = api_client_for(viewer.user, viewer.tenant).get(_url(network, tail))
    assert res.status_code == expected, res.content
    if expected == 409:
        assert res.json()["error"]["code"] == "network_not_running"
    assert _token_client(viewer, ["read"]).get(_url(network, tail)).status_code == expected
    stranger = MembershipFactory(role="owner")
    res = api_client_for(stranger.user, stranger.tenant).get(_url(network, tail))
    assert res.status_code == 404 and res.json()["error"]["code"] == "not_found"
    assert APIClient().get(_url(network, tail)).status_code in (401, 403)


def test_a_token_without_read_scope_is_refused(stopped):
    viewer, network = stopped
    res = _token_client(viewer, ["write"]).get(_url(network, "blocks/"))
    assert res.status_code == 403 and res.json()["error"]["code"] == "insufficient_scope"


def test_a_consortium_member_sees_the_network_like_the_owner(stopped):
    _owner, network = stopped
    member = MembershipFactory(role="viewer")
    NetworkMembership.objects.create(network=network, tenant=member.tenant)
    res = api_client_for(member.user, member.tenant).get(_url(network, "validators/"))
    assert res.status_code == 409  # seen (not 404), but the network is stopped


def test_missing_network_is_404():
    member = MembershipFactory()
    res = api_client_for(member.user, member.tenant).get(
        f"/api/v1/networks/{uuid.uuid4()}/explorer/blocks/")
    assert res.status_code == 404


@pytest.mark.parametrize(("tail", "code"), [
    ("search/", "invalid_search"),
    ("search/?q=" + "x" * 129, "invalid_search"),
    ("search/?q=Not%20A%20Name!", "invalid_search"),
    ("search/?q=kv&kind=colour", "invalid_kind"),
    ("search/?q=abc&kind=signer", "invalid_signer"),
    ("search/?q=abc&kind=hash", "invalid_hash"),
    ("search/?q=0&kind=height", "invalid_height"),
    ("search/?q=x1&kind=height", "invalid_height"),
    ("search/?q=Bad-Name&kind=chaincode", "invalid_chaincode"),
    ("txs/nothex/", "invalid_hash"),
    ("blocks/0/", "invalid_height"),
    ("blocks/?before=-1", "invalid_before"),
    ("blocks/?limit=x", "invalid_limit"),
    ("state/Bad-Name/", "invalid_chaincode"),
    ("state/kv/?prefix=" + "p" * 257, "invalid_prefix"),
    ("state/kv/?after=" + "a" * 257, "invalid_after"),
    ("state/kv/?limit=x", "invalid_limit"),
    ("state/kv/proof/", "invalid_key"),
    ("state/kv/proof/?key=" + "k" * 257, "invalid_key"),
    ("state/Bad-Name/proof/?key=a", "invalid_chaincode"),
])
def test_bad_input_is_400_with_a_stable_code_before_any_node_is_asked(stopped, tail, code):
    viewer, network = stopped
    res = api_client_for(viewer.user, viewer.tenant).get(_url(network, tail))
    assert res.status_code == 400, res.content
    assert res.json()["error"]["code"] == code


def test_the_overview_gives_connection_details(stopped, settings):
    settings.BAAS_PUBLIC_URL = "https://baas.example"
    viewer, network = stopped
    body = api_client_for(viewer.user, viewer.tenant).get(_url(network, "")).json()
    assert body["chain_id"] == network.chain_id
    assert body["tx_url"] == f"https://baas.example/api/v1/networks/{network.pk}/gateway/tx/"
    assert network.chain_id in body["python_example"]
    assert body["tx_url"] in body["curl_example"]


def test_signers_name_a_person_only_to_their_own_organisation(monkeypatch):
    from ledger.tx import Signer

    owner = MembershipFactory(role="owner", user__full_name="Jimin Han")
    network = NetworkFactory(tenant=owner.tenant)
    key = Signer.generate().public_key_hex
    SigningKey.objects.create(network=network, tenant=owner.tenant, user=owner.user,
                              member_id=f"user-{owner.user.pk}", public_key=key,
                              sealed_private_key=b"x")
    record = {"org": "org-1", "member": f"user-{owner.user.pk}", "roles": []}
    monkeypatch.setattr(selectors.gateway, "with_failover", lambda network, call: record)

    mine = selectors.Signers(network, owner.tenant)(key.upper())
    assert mine["person"] == "Jimin Han" and mine["organisation"] == owner.tenant.name
    assert mine["org_id"] == "org-1" and mine["kind"] == "person"
    other = MembershipFactory().tenant
    theirs = selectors.Signers(network, other)(key)
    assert theirs["person"] is None and theirs["organisation"] == owner.tenant.name
    monkeypatch.setattr(selectors.gateway, "with_failover", lambda network, call: None)
    unknown = selectors.Signers(network, owner.tenant)("cd" * 32)
    assert unknown["kind"] == "unknown" and unknown["person"] is None
