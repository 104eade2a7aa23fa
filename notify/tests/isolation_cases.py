"""Tenant-isolation cases for the webhooks API (see ``baas.testing``)."""

from __future__ import annotations

from baas.testing import IsolationCase
from deploy import crypto
from notify.models import Delivery, Event, Subscription


def _subscription(tenant, owner):
    # Made directly (not through the service): the case must not depend on the URL checks.
    return Subscription.objects.create(tenant=tenant, name="hooks", url="https://example.com/",
                                       event_types=["operation.finished"],
                                       sealed_secret=crypto.seal(b"whsec_isolation"))


def _delivery(tenant, owner):
    event = Event.objects.create(tenant=tenant, type="operation.finished", data={})
    return Delivery.objects.create(tenant=tenant, subscription=_subscription(tenant, owner),
                                   event=event)


CASES = [
    IsolationCase("webhooks", _subscription, "/api/v1/webhooks/",
                  lambda o: f"/api/v1/webhooks/{o.pk}/", ("get", "patch", "delete")),
    IsolationCase("webhook-deliveries", _delivery, "/api/v1/webhook-deliveries/",
                  lambda o: f"/api/v1/webhook-deliveries/{o.pk}/", ("get",)),
]
