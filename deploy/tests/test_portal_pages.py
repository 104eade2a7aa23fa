"""Network pages as a new user meets them: where the quota error sits, the "being created"
notice that goes once the network runs, and a deleted network offering nothing that
cannot work."""

from __future__ import annotations

import pytest

from deploy.choices import NetworkStatus
from deploy.models import Network, NetworkMembership
from deploy.tests.factories import (
    ConsortiumInvitationFactory,
    MembershipFactory,
    NetworkFactory,
    NodeFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_broker(monkeypatch):
    for name in ("network_provision_task", "network_stop_task", "network_delete_task",
                 "network_start_task"):
        monkeypatch.setattr(f"deploy.tasks.{name}.delay", lambda *a: None)


@pytest.fixture
def browser(client, owner):
    client.force_login(owner.user)
    return client


def test_the_network_count_quota_is_a_form_error_not_the_validators_field(browser, owner):
    owner.tenant.max_networks = 1
    owner.tenant.save()
    NetworkFactory(tenant=owner.tenant, name="first")
    res = browser.post("/networks/", {"name": "second", "validators": 1, "driver": "local"})
    assert res.status_code == 400
    form = res.context["form"]
    assert "validators" not in form.errors
    assert any("allows 1 networks and 1 are in use" in str(e) for e in form.non_field_errors())
    assert b'class="errorlist nonfield" role="alert"' in res.content
    assert b'id="id_validators_error"' not in res.content


def test_the_validators_per_network_quota_stays_on_the_validators_field(browser, owner):
    owner.tenant.max_validators_per_network = 2
    owner.tenant.save()
    res = browser.post("/networks/", {"name": "big", "validators": 3, "driver": "local"})
    assert res.status_code == 400
    form = res.context["form"]
    assert any("at most 2 validators" in str(e) for e in form.errors["validators"])
    assert not form.non_field_errors()


def test_being_created_shows_while_provisioning_and_goes_once_running(browser, owner):
    res = browser.post("/networks/", {"name": "fresh", "validators": 1, "driver": "local"})
    network = Network.objects.get(tenant=owner.tenant, name="fresh")
    page = browser.get(res["Location"]).content.decode()
    assert page.count("Network fresh is being created.") == 1
    # The live panel (what htmx swaps in every 2 s) carries the notice ...
    panel = browser.get(res["Location"], HTTP_HX_REQUEST="true").content.decode()
    assert "Network fresh is being created." in panel
    # ... and stops carrying it once the network runs: no reload needed.
    Network.objects.filter(pk=network.pk).update(status=NetworkStatus.RUNNING)
    panel = browser.get(res["Location"], HTTP_HX_REQUEST="true").content.decode()
    assert "is being created" not in panel
    assert "is being created" not in browser.get(res["Location"]).content.decode()


@pytest.mark.parametrize("status", [NetworkStatus.DELETED, NetworkStatus.DELETING,
                                    NetworkStatus.REJECTED])
def test_a_closed_network_offers_no_invitation_form_nor_member_removal(browser, owner,
                                                                      status):
    network = NetworkFactory(tenant=owner.tenant, status=status)
    member = MembershipFactory(role="owner")
    NetworkMembership.objects.create(network=network, tenant=member.tenant, role="observer")
    ConsortiumInvitationFactory(network=network)
    page = browser.get(f"/networks/{network.pk}/").content.decode()
    assert "Invite an organisation" not in page
    assert f"/networks/{network.pk}/invite/" not in page
    assert "/revoke/" not in page
    assert f"/members/{member.tenant.slug}/remove/" not in page
    assert member.tenant.slug in page  # the member list itself still shows
    if status != NetworkStatus.REJECTED:  # a rejected request can still be withdrawn
        assert f"/networks/{network.pk}/delete/" not in page


def test_a_running_network_still_offers_them(browser, owner):
    network = NetworkFactory(tenant=owner.tenant, status=NetworkStatus.RUNNING)
    NodeFactory(network=network)
    member = MembershipFactory(role="owner")
    NetworkMembership.objects.create(network=network, tenant=member.tenant, role="observer")
    page = browser.get(f"/networks/{network.pk}/").content.decode()
    assert "Invite an organisation" in page
    assert f"/members/{member.tenant.slug}/remove/" in page
    assert f"/networks/{network.pk}/delete/" in page


def _networks_usage_counted(tenant) -> bool:
    from baas.quotas import quota_usage

    return quota_usage(tenant=tenant)["max_networks"]["used"] is not None


def test_dashboard_and_tenant_api_show_networks_used(browser, owner):
    """Needs deploy to register its ``max_networks`` counter (``DeployConfig.ready``, see
    baas/quotas.py); until then both say "up to N" / ``used: null``."""
    from baas.testing import api_client_for

    owner.tenant.max_networks = 3
    owner.tenant.save()
    NetworkFactory(tenant=owner.tenant, status=NetworkStatus.RUNNING)
    NetworkFactory(tenant=owner.tenant, status=NetworkStatus.FAILED)
    NetworkFactory(tenant=owner.tenant, status=NetworkStatus.DELETED)  # does not count
    NetworkFactory(status=NetworkStatus.RUNNING)  # another organisation's
    if not _networks_usage_counted(owner.tenant):
        pytest.xfail("deploy does not register its max_networks usage counter yet "
                     "(DeployConfig.ready)")
    body = api_client_for(owner.user).get("/api/v1/tenant/").json()
    assert body["quotas"]["max_networks"] == {"limit": 3, "used": 2}
    rows = {q["name"]: q for q in browser.get("/dashboard/").context["quotas"]}
    assert rows["max_networks"]["used"] == 2 and rows["max_networks"]["limit"] == 3
    page = browser.get("/dashboard/").content.decode()
    assert 'id="quota-max_networks"' in page and "2 of 3" in page


def test_waiting_for_approval_shows_until_approved(browser, owner):
    network = NetworkFactory(tenant=owner.tenant, name="asked",
                             status=NetworkStatus.PENDING_APPROVAL)
    url = f"/networks/{network.pk}/"
    panel = browser.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert "Network asked is waiting for approval by the platform team." in panel
    Network.objects.filter(pk=network.pk).update(status=NetworkStatus.REQUESTED)
    panel = browser.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert "waiting for approval" not in panel and "Network asked is being created." in panel
