"""The explorer pages with Django's test client and no chain: they answer for the owner and
consortium members, 404 for anyone else, and say why when the chain cannot be read (the
real chain: tests/browser/test_explorer_browser.py)."""

from __future__ import annotations

import pytest
from django.test import Client

from deploy.choices import NetworkStatus
from deploy.models import NetworkMembership
from deploy.tests.factories import MembershipFactory, NetworkFactory

pytestmark = pytest.mark.django_db

PAGES = ["", "blocks/", "blocks/5/", "txs/" + "ab" * 32 + "/", "search/?q=kv", "state/",
         "state/?chaincode=kv&prefix=a"]


def signed_in(membership, lang: str = "en") -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE=lang)
    client.force_login(membership.user)
    return client


@pytest.fixture
def stopped():
    owner = MembershipFactory(role="viewer")
    return owner, NetworkFactory(tenant=owner.tenant, status=NetworkStatus.STOPPED)


@pytest.mark.parametrize("tail", PAGES)
def test_a_stopped_network_is_said_on_every_page_others_get_404(stopped, tail):
    owner, network = stopped
    url = f"/networks/{network.pk}/explorer/{tail}"
    res = signed_in(owner).get(url)
    assert res.status_code == 200
    body = res.content.decode()
    assert 'id="explorer-error"' in body and "stopped" in body
    assert "<script>" not in body  # no inline script: the CSP allows only files
    member = MembershipFactory(role="viewer")
    NetworkMembership.objects.create(network=network, tenant=member.tenant, role="observer")
    assert signed_in(member).get(url).status_code == 200
    assert signed_in(MembershipFactory()).get(url).status_code == 404


def test_bad_input_on_a_page_is_a_400_that_says_why(stopped):
    owner, network = stopped
    res = signed_in(owner).get(f"/networks/{network.pk}/explorer/search/?q=Not%20a%20name!")
    assert res.status_code == 400 and 'id="explorer-error"' in res.content.decode()
    res = signed_in(owner).get(f"/networks/{network.pk}/explorer/state/?chaincode=Bad-Name")
    assert res.status_code == 400


def test_the_network_page_links_to_the_explorer_and_it_shows_connection_details(stopped):
    owner, network = stopped
    client = signed_in(owner)
    page = client.get(f"/networks/{network.pk}/").content.decode()
    assert f'href="/networks/{network.pk}/explorer/"' in page
    home = client.get(f"/networks/{network.pk}/explorer/").content.decode()
    assert network.chain_id in home and f"/api/v1/networks/{network.pk}/gateway/" in home
    assert "explorer/explorer.js" in home
