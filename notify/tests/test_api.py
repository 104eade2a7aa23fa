"""The webhooks API: roles, token scopes, the secret shown once, refusals, deliveries and
replay (the tenant-isolation cases are in ``isolation_cases.py``)."""

from __future__ import annotations

import uuid

import pytest
from rest_framework.test import APIClient

from baas.choices import OperationState
from baas.operations import operation_create, operation_transition
from baas.testing import api_client_for
from notify import services
from notify.models import Delivery, Subscription
from notify.tests.receiver import verify
from tenants.tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin(key_file):
    return MembershipFactory(role="admin")


def _token(member, scopes):
    from tenants import services as tenant_services

    _row, raw = tenant_services.token_create(tenant=member.tenant, actor=member.user,
                                             membership=member, name="t-" + "-".join(scopes),
                                             scopes=scopes)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def _create(client, url, types=("operation.finished",)):
    return client.post("/api/v1/webhooks/", {"name": "ops", "url": url,
                                             "event_types": list(types)}, format="json")


def test_create_shows_the_secret_once_and_deliveries_can_be_replayed(admin, allow_private,
                                                                     receiver):
    client = api_client_for(admin.user, admin.tenant)
    made = _create(client, receiver.url())
    assert made.status_code == 201, made.content
    body = made.json()
    secret = body["secret"]
    assert secret.startswith("whsec_")
    assert made["Cache-Control"] == "no-store"
    detail = client.get(f"/api/v1/webhooks/{body['id']}/").json()
    assert "secret" not in detail and detail["event_types"] == ["operation.finished"]
    assert [s["id"] for s in client.get("/api/v1/webhooks/").json()["results"]] == [body["id"]]
    assert all("secret" not in s for s in client.get("/api/v1/webhooks/").json()["results"])

    op = operation_create(tenant=admin.tenant, actor=None, kind="test.op")
    operation_transition(operation_id=op.pk, to=OperationState.CANCELLED)
    [delivery] = Delivery.objects.filter(subscription_id=body["id"])
    services.delivery_attempt(delivery_id=delivery.pk)

    listed = client.get("/api/v1/webhook-deliveries/", {"subscription": body["id"]}).json()
    assert listed["count"] == 1 and listed["results"][0]["status"] == "succeeded"
    shown = client.get(f"/api/v1/webhook-deliveries/{delivery.pk}/").json()
    assert shown["event_type"] == "operation.finished"
    assert [(a["number"], a["status_code"]) for a in shown["attempt_list"]] == [(1, 200)]
    assert shown["event_data"]["operation"]["id"] == op.pk

    replay = client.post(f"/api/v1/webhook-deliveries/{delivery.pk}/replay/")
    assert replay.status_code == 202 and replay.json()["replay_of"] == str(delivery.pk)
    services.delivery_attempt(delivery_id=replay.json()["id"])
    assert len(receiver.requests) == 2
    assert verify(secret, receiver.requests[1].headers["X-Baas-Signature"],
                  receiver.requests[1].body)
    assert client.get("/api/v1/webhook-deliveries/", {"status": "succeeded"}).json()["count"] == 2
    bad = client.get("/api/v1/webhook-deliveries/", {"status": "exploded"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_filter"

    rotated = client.post(f"/api/v1/webhooks/{body['id']}/rotate-secret/")
    assert rotated.status_code == 200 and rotated.json()["secret"] != secret
    paused = client.patch(f"/api/v1/webhooks/{body['id']}/", {"active": False}, format="json")
    assert paused.status_code == 200 and paused.json()["active"] is False
    refused = client.post(f"/api/v1/webhook-deliveries/{delivery.pk}/replay/")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "webhook_inactive"
    assert client.delete(f"/api/v1/webhooks/{body['id']}/").status_code == 204
    assert not Subscription.objects.exists() and not Delivery.objects.exists()


@pytest.mark.parametrize("url, code", [
    ("ftp://example.com/in", "webhook_url_scheme"),
    ("gopher://example.com/", "webhook_url_scheme"),
    ("http://127.0.0.1:8000/", "webhook_url_private"),
    ("http://[::1]/", "webhook_url_private"),
    ("http://169.254.169.254/", "webhook_url_private"),
    ("http://192.168.1.10/", "webhook_url_private"),
    ("http://localhost/", "webhook_url_unresolvable"),  # a name: the same as a missing one
    ("https://no-such-host.invalid/", "webhook_url_unresolvable"),
    ("http://u:p@example.com/", "webhook_url_invalid"),
])
def test_refused_urls_answer_400_with_a_stable_code(admin, url, code):
    client = api_client_for(admin.user, admin.tenant)
    response = _create(client, url)
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == code
    assert not Subscription.objects.exists()


@pytest.mark.parametrize("types", [[], ["nope"], ["operation.finished", "network.exploded"]])
def test_bad_event_types_have_their_code(admin, types):
    client = api_client_for(admin.user, admin.tenant)
    response = _create(client, "https://93.184.216.34/in", types=types)
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "webhook_event_types_invalid"


def test_bad_bodies_are_400_never_500(admin):
    client = api_client_for(admin.user, admin.tenant)
    for body in ({}, {"name": "x", "url": "https://example.com/", "event_types": []},
                 {"name": "x", "url": "https://example.com/", "event_types": ["nope"]},
                 {"name": "x", "url": ["a"], "event_types": ["operation.finished"]},
                 {"name": "a\u202eb", "url": "https://example.com/",
                  "event_types": ["operation.finished"]},
                 {"name": "x" * 101, "url": "https://example.com/",
                  "event_types": ["operation.finished"]}):
        response = client.post("/api/v1/webhooks/", body, format="json")
        assert response.status_code == 400, (body, response.content)
    assert client.get(f"/api/v1/webhooks/{uuid.uuid4()}/").status_code == 404
    assert client.get("/api/v1/webhooks/not-a-uuid/").status_code == 404
    assert not Subscription.objects.exists()


@pytest.mark.parametrize("role", ["viewer", "developer"])
def test_below_admin_is_refused(role, key_file):
    member = MembershipFactory(role=role)
    client = api_client_for(member.user, member.tenant)
    assert client.get("/api/v1/webhooks/").status_code == 403
    assert client.get("/api/v1/webhook-deliveries/").status_code == 403
    response = _create(client, "https://example.com/")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"


def test_token_scopes(admin, allow_private, receiver):
    reader = _token(admin, ["read"])
    assert reader.get("/api/v1/webhooks/").status_code == 200
    assert _create(reader, receiver.url()).status_code == 403
    app = _token(admin, ["read", "write"])  # an application's token: no deploy
    denied = _create(app, receiver.url())
    assert denied.status_code == 403, denied.content
    ops = _token(admin, ["read", "write", "deploy"])
    assert _create(ops, receiver.url()).status_code == 201


def test_the_secret_answers_are_not_cached(admin, allow_private, receiver):
    client = api_client_for(admin.user, admin.tenant)
    made = _create(client, receiver.url())
    assert made.status_code == 201 and made["Cache-Control"] == "no-store"
    rotated = client.post(f"/api/v1/webhooks/{made.json()['id']}/rotate-secret/")
    assert rotated.status_code == 200 and rotated["Cache-Control"] == "no-store"


def test_subscriptions_per_tenant_are_capped_and_listed_by_page(admin, allow_private, receiver,
                                                                settings):
    """Each event is sent once per subscription: their number is bounded."""
    settings.BAAS_WEBHOOK_MAX_SUBSCRIPTIONS = 3
    client = api_client_for(admin.user, admin.tenant)
    for _ in range(3):
        assert _create(client, receiver.url()).status_code == 201
    refused = _create(client, receiver.url())
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "webhook_limit_reached"
    assert refused.json()["error"]["details"] == {"limit": 3, "used": 3}
    assert Subscription.objects.filter(tenant=admin.tenant).count() == 3
    listed = client.get("/api/v1/webhooks/?page_size=2").json()
    assert listed["count"] == 3 and len(listed["results"]) == 2 and listed["next"]
    # another tenant's subscriptions do not count
    other = MembershipFactory(role="admin")
    assert _create(api_client_for(other.user, other.tenant), receiver.url()).status_code == 201


def test_replays_are_rate_limited(admin, allow_private, receiver, settings):
    settings.BAAS_WEBHOOK_MAX_REPLAYS_PER_MINUTE = 2
    client = api_client_for(admin.user, admin.tenant)
    made = _create(client, receiver.url())
    op = operation_create(tenant=admin.tenant, actor=None, kind="test.op")
    operation_transition(operation_id=op.pk, to=OperationState.CANCELLED)
    [delivery] = Delivery.objects.filter(subscription_id=made.json()["id"])
    url = f"/api/v1/webhook-deliveries/{delivery.pk}/replay/"
    assert [client.post(url).status_code for _ in range(2)] == [202, 202]
    refused = client.post(url)
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "throttled"
    assert Delivery.objects.filter(replay_of=delivery).count() == 2
