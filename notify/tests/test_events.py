"""Events fired by the real reconciler and chain code (deploy's in-memory driver stands in
for the runtime; the reconciler, state moves and outbox are the real ones)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from baas import events
from deploy import reconcile, services, tasks
from deploy.choices import NetworkStatus
from deploy.models import Node
from deploy.services import NetworkSpec
from notify.models import Delivery, Event
from notify.tests.factories import subscription

pytestmark = pytest.mark.django_db

TYPES = (events.NETWORK_DEGRADED, events.NETWORK_RECOVERED, events.VALIDATOR_DOWN,
         events.OPERATION_FINISHED)


@pytest.fixture
def running(owner, fake_driver, cometbft, monkeypatch, allow_private, receiver):
    monkeypatch.setattr("deploy.tasks.network_provision_task.delay", lambda *a: None)
    sub, _ = subscription(owner.tenant, receiver.url(), types=TYPES)
    network, op = services.network_create(tenant=owner.tenant, actor=owner.user,
                                          spec=NetworkSpec(name="alerts", validators=4))
    tasks.network_provision_task(str(network.pk), op.pk)
    network.refresh_from_db()
    assert network.status == NetworkStatus.RUNNING, network.error_message
    return network, sub


def _types(tenant):
    return list(Event.objects.filter(tenant=tenant).order_by("created_at", "id")
                .values_list("type", flat=True))


def test_degraded_then_recovered_and_validator_down_once(running, fake_driver, settings):
    network, sub = running
    tenant = network.tenant
    # the provisioning operation finished: that is the first event
    assert _types(tenant) == [events.OPERATION_FINISHED]
    victim = network.nodes.get(index=2)
    fake_driver.stop_node(network_id=str(network.pk), node_id=str(victim.pk))
    fake_driver.nodes[(str(network.pk), str(victim.pk))]["crash"] = True
    reconcile.reconcile()
    network.refresh_from_db()
    assert network.status == NetworkStatus.DEGRADED
    degraded = Event.objects.get(tenant=tenant, type=events.NETWORK_DEGRADED)
    assert degraded.data["network"]["id"] == str(network.pk)
    assert victim.moniker in degraded.data["nodes_down"]
    assert not Event.objects.filter(type=events.VALIDATOR_DOWN).exists()  # not for N minutes

    # seen last longer ago than the setting: validator.down, once however many passes
    settings.BAAS_WEBHOOK_VALIDATOR_DOWN_MINUTES = 5
    Node.objects.filter(pk=victim.pk).update(
        last_seen_at=timezone.now() - timedelta(minutes=6))
    fake_driver.healthy = False  # every node's RPC fails: all stay down this pass
    reconcile.reconcile()
    reconcile.reconcile()
    down = Event.objects.filter(tenant=tenant, type=events.VALIDATOR_DOWN)
    assert [e.data["node"]["id"] for e in down] == [str(victim.pk)]
    assert down[0].data["minutes"] == 5

    fake_driver.healthy = True
    reconcile.reconcile()
    network.refresh_from_db()
    assert network.status == NetworkStatus.RUNNING
    assert Event.objects.filter(tenant=tenant, type=events.NETWORK_RECOVERED).count() == 1
    assert Delivery.objects.filter(subscription=sub, event__type__in=TYPES).count() == \
        Event.objects.filter(tenant=tenant).count()


def test_chaincode_installed_is_published_once_when_the_chain_activates_it(
        running, monkeypatch):
    from deploy import chain

    network, sub = running
    from notify import services as notify_services
    notify_services.subscription_update(
        tenant=network.tenant, actor=None, subscription=sub,
        changes={"event_types": [events.CHAINCODE_INSTALLED]})
    answers = iter([
        {"height": 12, "data": {"status": "active", "code_hash": "ab" * 32}},
        {},  # a resumed install: "already active"
        {"height": 13, "data": {"status": "pending", "approvals": 1, "required": 2}},
    ])
    # The chain's answer stands in for a real network's (deploy's own tests cover the
    # transaction itself); what is tested here is what we publish from each answer.
    monkeypatch.setattr(chain, "governance_tx", lambda *a, **k: next(answers))
    chain.install_chaincode(network, name="assets", version="1.0.0", source="x")
    chain.install_chaincode(network, name="assets", version="1.0.0", source="x")
    chain.install_chaincode(network, name="assets", version="1.1.0", source="x")
    [event] = Event.objects.filter(type=events.CHAINCODE_INSTALLED)
    assert event.data["chaincode"] == {"name": "assets", "version": "1.0.0",
                                       "code_hash": "ab" * 32}
    assert event.data["height"] == 12
