"""/metrics: scraped over HTTP and read with Prometheus' own text parser."""

from __future__ import annotations

import uuid

import pytest
from prometheus_client.parser import text_string_to_metric_families

from baas.celery import app
from baas.operations import operation_create
from tenants.tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db


def scrape(client, **headers) -> dict[str, list]:
    response = client.get("/metrics", **headers)
    assert response.status_code == 200, response.content[:300]
    assert response["Content-Type"].startswith("text/plain; version=")
    families = text_string_to_metric_families(response.content.decode())
    return {family.name: family.samples for family in families}


def value(metrics: dict[str, list], sample_name: str, **labels: str) -> float:
    family = sample_name.removesuffix("_total").removesuffix("_count").removesuffix("_bucket")
    for sample in metrics.get(family, []):
        if sample.name == sample_name and all(sample.labels.get(k) == v
                                              for k, v in labels.items()):
            return sample.value
    return 0.0


def test_requests_are_counted_by_view_and_status_class(client):
    before = value(scrape(client), "baas_http_requests_total",
                   method="GET", view="healthz", status="2xx")
    assert client.get("/healthz").status_code == 200
    assert client.get("/healthz").status_code == 200
    after = scrape(client)
    assert value(after, "baas_http_requests_total",
                 method="GET", view="healthz", status="2xx") == before + 2
    assert value(after, "baas_http_request_duration_seconds_count",
                 method="GET", view="healthz") >= 2


def test_unknown_paths_and_methods_make_no_new_series(client):
    for n in range(3):
        client.get(f"/no-such-page-{n}-{uuid.uuid4().hex}")
    client.generic("BREW", "/healthz")
    metrics = scrape(client)
    views = {s.labels["view"] for s in metrics["baas_http_requests"]}
    methods = {s.labels["method"] for s in metrics["baas_http_requests"]}
    assert not any(v.startswith("no-such-page") for v in views)
    assert "unmatched" in views
    assert "BREW" not in methods and "OTHER" in methods


def test_operations_by_kind_and_state(client):
    member = MembershipFactory()
    for _ in range(2):
        operation_create(tenant=member.tenant, actor=member.user, kind="metrics.test")
    metrics = scrape(client)
    assert value(metrics, "baas_operations", kind="metrics.test", state="queued") == 2


def test_reconciler_passes_and_outcomes_add_up_across_passes(client):
    from deploy.tasks import reconcile_task

    before = scrape(client)
    reconcile_task()
    reconcile_task()
    after = scrape(client)
    assert value(after, "baas_reconciler_passes_total") == \
        value(before, "baas_reconciler_passes_total") + 2


def test_queue_depth_is_the_brokers(client, monkeypatch):
    """A message sent to the broker (the filesystem transport, or Redis in CI's second
    run) shows in the figure; a queue of its own keeps other tests' messages out."""
    queue = f"metrics-test-{uuid.uuid4().hex[:8]}"
    monkeypatch.setattr(app.conf, "task_default_queue", queue)
    with app.connection_for_write() as conn:
        conn.default_channel.queue_declare(queue=queue, durable=True, auto_delete=False)
    try:
        assert value(scrape(client), "baas_queue_messages", queue=queue) == 0
        app.send_task("baas.metrics_test_never_run", queue=queue)
        metrics = scrape(client)
        assert value(metrics, "baas_queue_up") == 1
        assert value(metrics, "baas_queue_messages", queue=queue) == 1
    finally:
        with app.connection_for_write() as conn:
            conn.default_channel.queue_purge(queue)
            conn.default_channel.queue_delete(queue)


def test_networks_and_nodes_are_counted_without_names(client):
    from deploy.tests.factories import NetworkFactory

    network = NetworkFactory()
    metrics = scrape(client)
    assert value(metrics, "baas_networks", status=network.status, driver=network.driver) >= 1
    text = client.get("/metrics").content.decode()
    assert network.name not in text and str(network.pk) not in text
    assert network.tenant.slug not in text


def test_production_closes_metrics_without_a_token(client, settings):
    settings.PRODUCTION = True
    settings.BAAS_METRICS_TOKEN = None
    response = client.get("/metrics")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "metrics_disabled"


def test_a_configured_token_is_required(client, settings):
    settings.PRODUCTION = True
    settings.BAAS_METRICS_TOKEN = "a-long-random-metrics-token"
    for headers in ({}, {"HTTP_AUTHORIZATION": "Bearer wrong"},
                    {"HTTP_AUTHORIZATION": "Basic a-long-random-metrics-token"}):
        response = client.get("/metrics", **headers)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "metrics_unauthorized"
        assert "Bearer" in response["WWW-Authenticate"]
    metrics = scrape(client, HTTP_AUTHORIZATION="Bearer a-long-random-metrics-token")
    assert "baas_operations" in metrics
