"""The webhook pages with Django's test client: list, create (the secret shown once),
a subscription's deliveries, a delivery's attempts, replay; admins only; Korean."""

from __future__ import annotations

import pytest
from django.test import Client

from baas.choices import OperationState
from baas.operations import operation_create, operation_transition
from notify import services
from notify.models import Delivery, Subscription
from tenants.tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db


def _client(member):
    client = Client()
    client.force_login(member.user)
    return client


def test_admin_creates_a_webhook_sees_deliveries_and_replays(key_file, allow_private, receiver):
    admin = MembershipFactory(role="admin")
    client = _client(admin)
    assert client.get("/webhooks/").status_code == 200
    made = client.post("/webhooks/", {"name": "ops", "url": receiver.url(),
                                      "event_types": ["operation.finished"]})
    assert made.status_code == 200
    sub = Subscription.objects.get()
    secret = services.secret_of(sub)
    assert secret in made.content.decode()
    assert made["Cache-Control"] == "no-store"
    # never again: not on the list or the subscription's page
    assert secret not in client.get("/webhooks/").content.decode()
    page = client.get(f"/webhooks/{sub.pk}/")
    assert page.status_code == 200 and secret not in page.content.decode()

    op = operation_create(tenant=admin.tenant, actor=None, kind="test.op")
    operation_transition(operation_id=op.pk, to=OperationState.CANCELLED)
    [delivery] = Delivery.objects.all()
    services.delivery_attempt(delivery_id=delivery.pk)
    page = client.get(f"/webhooks/{sub.pk}/").content.decode()
    assert "operation.finished" in page and f"/webhooks/deliveries/{delivery.pk}/" in page
    detail = client.get(f"/webhooks/deliveries/{delivery.pk}/").content.decode()
    assert "HTTP 200" in detail

    replayed = client.post(f"/webhooks/deliveries/{delivery.pk}/replay/")
    assert replayed.status_code == 302
    replay = Delivery.objects.get(replay_of=delivery)
    assert replayed["Location"] == f"/webhooks/deliveries/{replay.pk}/"

    rotated = client.post(f"/webhooks/{sub.pk}/", {"action": "rotate"})
    sub.refresh_from_db()
    assert services.secret_of(sub) in rotated.content.decode()
    assert rotated["Cache-Control"] == "no-store"
    client.post(f"/webhooks/{sub.pk}/", {"action": "pause"})
    sub.refresh_from_db()
    assert sub.active is False
    client.post(f"/webhooks/{sub.pk}/", {"action": "delete"})
    assert not Subscription.objects.exists()


def test_a_refused_url_is_shown_on_the_form_and_nothing_is_made(key_file):
    admin = MembershipFactory(role="admin")
    response = _client(admin).post("/webhooks/", {
        "name": "ops", "url": "http://127.0.0.1:9/", "event_types": ["operation.finished"]},
        HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 400
    assert "public addresses only" in response.content.decode()
    assert not Subscription.objects.exists()


@pytest.mark.parametrize("role", ["viewer", "developer"])
def test_pages_are_404_below_admin(role, key_file):
    member = MembershipFactory(role=role)
    client = _client(member)
    assert client.get("/webhooks/").status_code == 404
    assert client.post("/webhooks/", {"name": "x", "url": "https://example.com/",
                                      "event_types": ["operation.finished"]}).status_code == 404
    assert not Subscription.objects.exists()


def test_another_tenants_webhook_is_404(key_file):
    from notify.tests.isolation_cases import _delivery

    mine, theirs = MembershipFactory(role="owner"), MembershipFactory(role="owner")
    delivery = _delivery(theirs.tenant, theirs.user)
    client = _client(mine)
    assert client.get(f"/webhooks/{delivery.subscription_id}/").status_code == 404
    assert client.get(f"/webhooks/deliveries/{delivery.pk}/").status_code == 404
    assert client.post(f"/webhooks/deliveries/{delivery.pk}/replay/").status_code == 404
    assert Delivery.objects.count() == 1


def test_a_webhook_past_the_limit_is_refused_on_the_page(key_file, allow_private, receiver,
                                                        settings):
    settings.BAAS_WEBHOOK_MAX_SUBSCRIPTIONS = 1
    admin = MembershipFactory(role="admin")
    client = _client(admin)
    form = {"name": "ops", "url": receiver.url(), "event_types": ["operation.finished"]}
    assert client.post("/webhooks/", form).status_code == 200
    refused = client.post("/webhooks/", form)
    assert refused.status_code == 400
    assert Subscription.objects.filter(tenant=admin.tenant).count() == 1
