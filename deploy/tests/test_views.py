from __future__ import annotations

import pytest

from deploy.choices import NetworkStatus
from deploy.models import Network
from deploy.tests.factories import MembershipFactory, NetworkFactory, NodeFactory

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


def test_create_from_the_portal_lands_on_the_network_page(browser, owner):
    res = browser.post("/networks/", {"name": "portal-net", "validators": 4, "driver": "local"})
    network = Network.objects.get(tenant=owner.tenant, name="portal-net")
    assert res.status_code == 302 and res["Location"] == f"/networks/{network.pk}/"
    page = browser.get(res["Location"])
    assert page.status_code == 200
    assert b"portal-net" in page.content and b'data-status="requested"' in page.content


def test_create_errors_are_shown_in_words(browser, owner):
    NetworkFactory(tenant=owner.tenant, name="taken")
    res = browser.post("/networks/", {"name": "taken", "validators": 4, "driver": "local"})
    assert res.status_code == 400
    assert b"already have a network" in res.content
    res = browser.post("/networks/", {"name": "ok-name", "validators": 9, "driver": "local"})
    assert res.status_code == 400 and b"between 1 and" in res.content


def test_live_panel_is_a_fragment(browser, owner):
    network = NetworkFactory(tenant=owner.tenant)
    NodeFactory(network=network, height=42)
    res = browser.get(f"/networks/{network.pk}/", HTTP_HX_REQUEST="true")
    assert res.status_code == 200
    assert b"<html" not in res.content and b">42<" in res.content


def test_delete_needs_the_typed_name(browser, owner):
    network = NetworkFactory(tenant=owner.tenant, status=NetworkStatus.FAILED)
    url = f"/networks/{network.pk}/delete/"
    assert browser.get(url).status_code == 200
    res = browser.post(url, {"confirm_name": "wrong"})
    assert res.status_code == 400
    network.refresh_from_db()
    assert network.status == NetworkStatus.FAILED
    res = browser.post(url, {"confirm_name": network.name})
    assert res.status_code == 302
    network.refresh_from_db()
    assert network.status == NetworkStatus.DELETING


def test_stop_then_refused_start_shows_a_message(browser, owner):
    network = NetworkFactory(tenant=owner.tenant, status=NetworkStatus.RUNNING)
    browser.post(f"/networks/{network.pk}/stop/")
    network.refresh_from_db()
    assert network.status == NetworkStatus.STOPPING
    res = browser.post(f"/networks/{network.pk}/start/", follow=True)
    assert b"cannot be asked to start" in res.content


def test_other_tenants_pages_are_404(client, owner):
    network = NetworkFactory(tenant=owner.tenant)
    node = NodeFactory(network=network)
    intruder = MembershipFactory(role="owner")
    client.force_login(intruder.user)
    for url in (f"/networks/{network.pk}/", f"/networks/{network.pk}/delete/",
                f"/networks/{network.pk}/nodes/{node.pk}/logs/"):
        assert client.get(url).status_code == 404, url
    assert client.post(f"/networks/{network.pk}/stop/").status_code == 404
    assert network.name.encode() not in client.get("/networks/").content


def test_viewer_sees_no_create_form_or_buttons(client):
    viewer = MembershipFactory(role="viewer")
    network = NetworkFactory(tenant=viewer.tenant)
    client.force_login(viewer.user)
    assert b'name="validators"' not in client.get("/networks/").content
    page = client.get(f"/networks/{network.pk}/").content
    assert b"/stop/" not in page and b"/delete/" not in page


def test_add_validator_and_remove_node_from_the_portal(browser, owner, monkeypatch):
    monkeypatch.setattr("deploy.tasks.validator_add_task.delay", lambda *a: None)
    monkeypatch.setattr("deploy.tasks.validator_remove_task.delay", lambda *a: None)
    network = NetworkFactory(tenant=owner.tenant, validator_count=2)
    node = NodeFactory(network=network)
    page = browser.get(f"/networks/{network.pk}/").content
    assert b"/add-validator/" in page and f"/nodes/{node.pk}/remove/".encode() in page
    res = browser.post(f"/networks/{network.pk}/add-validator/")
    assert res.status_code == 302
    from baas.models import Operation

    assert Operation.objects.filter(kind="network.validator_add",
                                    target_id=str(network.pk)).count() == 1
    res = browser.post(f"/networks/{network.pk}/nodes/{node.pk}/remove/",
                       {"confirm_name": "wrong"})
    assert res.status_code == 400
