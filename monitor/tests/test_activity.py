"""The sampler against a real one-validator CometBFT network, the figures worked out from
its samples, the API and the portal panel (roles, other tenants, bad input)."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from baas.testing import api_client_for
from deploy.choices import NodeHealth
from deploy.tests.factories import MembershipFactory, NetworkFactory, NodeFactory
from ledger.client import LedgerClient
from monitor import charts, sampler, selectors
from monitor.models import NetworkSample
from monitor.tests.conftest import CHAIN_ID, DEADLINE


def _network_on(url: str, **kwargs):
    network = NetworkFactory(chain_id=CHAIN_ID, validator_count=1, **kwargs)
    NodeFactory(network=network, rpc_url=url, health=NodeHealth.HEALTHY, index=0)
    return network


def _wait_height(client: LedgerClient, above: int) -> int:
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        height = client.height()
        if height > above:
            return height
        time.sleep(0.2)
    raise AssertionError(f"no block above {above} in {DEADLINE}s")


@pytest.mark.cometbft
@pytest.mark.django_db
def test_samples_count_every_transaction_between_two_passes(chain):
    url, client = chain
    network = _network_on(url)
    first = sampler.sample_network(network)
    assert first.txs is None  # nothing to compare with yet
    assert first.height >= 1 and first.block_time is not None
    assert (first.validators, first.validators_up) == (1, 1)
    for n in range(5):
        client.submit("kv", "put", [f"monitor-{n}", n])
    _wait_height(client, client.height())  # past the block holding the last write
    second = sampler.sample_network(network)
    assert second.height > first.height
    assert second.txs == 5
    # The figures of the interval between them: five transactions over the chain time
    # between the two samples' latest blocks.
    chain_seconds = (second.block_time - first.block_time).total_seconds()
    values = selectors._interval(first, second)
    assert values["tx_per_s"] == pytest.approx(5 / chain_seconds)
    assert values["block_interval_s"] == pytest.approx(
        chain_seconds / (second.height - first.height))
    assert values["validators_up"] == 1.0


@pytest.mark.cometbft
@pytest.mark.django_db
def test_a_gap_too_long_to_count_is_no_figure_rather_than_a_guess(chain, monkeypatch):
    url, client = chain
    network = _network_on(url)
    sampler.sample_network(network)
    monkeypatch.setattr(sampler, "MAX_BLOCKS_COUNTED", 0)
    _wait_height(client, client.height())
    assert sampler.sample_network(network).txs is None


@pytest.mark.cometbft
@pytest.mark.django_db
def test_an_unreachable_network_is_skipped_and_the_pass_goes_on(chain):
    url, _client = chain
    dead = NetworkFactory()
    NodeFactory(network=dead, rpc_url="http://127.0.0.1:9", health=NodeHealth.UNHEALTHY)
    live = _network_on(url)
    counts = sampler.sample_all()
    assert counts["unreachable"] >= 1 and counts["sampled"] >= 1
    assert NetworkSample.objects.filter(network=live).count() == 1
    assert not NetworkSample.objects.filter(network=dead).exists()


def _samples(network, heights, txs, step_s=60, start=None):
    start = start or timezone.now() - timedelta(seconds=step_s * len(heights))
    for i, (height, count) in enumerate(zip(heights, txs, strict=True)):
        at = start + timedelta(seconds=step_s * i)
        NetworkSample.objects.create(network=network, taken_at=at, height=height,
                                     block_time=at, txs=count, validators=4,
                                     validators_up=4 if i % 2 else 3, disk_bytes=1 << 20)


@pytest.mark.django_db
def test_rates_from_consecutive_samples_and_gaps_stay_gaps():
    network = NetworkFactory()
    _samples(network, [10, 70, 130, 130], [None, 120, None, 0])
    data = selectors.activity(network=network, window="1h")
    values = [p.values for p in data["points"]]
    assert [v["blocks_per_min"] for v in values] == [60.0, 60.0, 0.0]
    assert values[0]["tx_per_s"] == pytest.approx(2.0)
    assert values[1]["tx_per_s"] is None  # uncounted: a gap, not zero
    assert values[2]["tx_per_s"] == 0.0 and values[2]["block_interval_s"] is None
    line = charts.sparkline(data["points"], "tx_per_s", data["start"], data["end"])
    assert len(line.segments) == 2  # the gap splits the line


@pytest.mark.django_db
def test_a_day_is_averaged_into_a_bounded_number_of_points():
    network = NetworkFactory()
    n = 400
    _samples(network, [i * 60 for i in range(n)], [None] + [30] * (n - 1), step_s=180)
    data = selectors.activity(network=network, window="1d")
    assert 0 < len(data["points"]) <= selectors.POINTS
    assert all(p.values["blocks_per_min"] == pytest.approx(20.0) for p in data["points"])


@pytest.mark.django_db
def test_api_reads_for_members_and_refuses_others_and_bad_windows():
    member = MembershipFactory(role="viewer")
    network = NetworkFactory(tenant=member.tenant)
    _samples(network, [1, 61], [None, 6])
    client = api_client_for(member.user, member.tenant)
    url = f"/api/v1/networks/{network.pk}/activity/"
    body = client.get(url).json()
    assert body["window"] == "1h" and body["height"] == 61 and len(body["points"]) == 1
    assert body["points"][0]["tx_per_s"] == pytest.approx(0.1)
    bad = client.get(url + "?window=1y")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_window"
    stranger = MembershipFactory(role="owner")
    other = api_client_for(stranger.user, stranger.tenant).get(url)
    assert other.status_code == 404 and other.json()["error"]["code"] == "not_found"


@pytest.mark.django_db
def test_portal_panel_draws_the_charts_and_hides_other_tenants(client):
    member = MembershipFactory(role="viewer")
    network = NetworkFactory(tenant=member.tenant)
    _samples(network, [1, 61, 121], [None, 6, 12])
    client.force_login(member.user)
    response = client.get(f"/networks/{network.pk}/activity/?window=1h")
    assert response.status_code == 200
    text = response.content.decode()
    assert text.count("<polyline") == 5 and 'id="activity-tx_per_s"' in text
    stranger = MembershipFactory(role="owner")
    client.force_login(stranger.user)
    assert client.get(f"/networks/{network.pk}/activity/").status_code == 404


@pytest.mark.cometbft
@pytest.mark.django_db
def test_a_nodes_host_metrics_are_a_scrape_target_for_its_network_only(chain):
    """GET /api/v1/networks/{id}/nodes/{node}/metrics/ answers the node's own figures
    (query path /metrics), parsed with Prometheus' parser; another tenant gets 404."""
    from prometheus_client.parser import text_string_to_metric_families

    url, client = chain
    client.submit("kv", "put", ["scraped", 1])
    member = MembershipFactory(role="viewer")
    network = NetworkFactory(tenant=member.tenant, chain_id=CHAIN_ID)
    node = NodeFactory(network=network, rpc_url=url, health=NodeHealth.HEALTHY, index=0)
    path = f"/api/v1/networks/{network.pk}/nodes/{node.pk}/metrics/"
    response = api_client_for(member.user, member.tenant).get(path)
    assert response.status_code == 200, response.content[:300]
    assert response["Content-Type"].startswith("text/plain")
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for f in text_string_to_metric_families(response.content.decode())
               for s in f.samples}
    assert samples[("ledger_txs_total", (("chaincode", "kv"), ("code", "ok")))] >= 1
    assert samples[("ledger_height", ())] >= 1
    stranger = MembershipFactory(role="owner")
    assert api_client_for(stranger.user, stranger.tenant).get(path).status_code == 404
    node.rpc_url = "http://127.0.0.1:9"
    node.save(update_fields=["rpc_url"])
    down = api_client_for(member.user, member.tenant).get(path)
    assert down.status_code == 503 and down.json()["error"]["code"] == "node_unreachable"


class _Runtime:
    """The node's runtime as the metrics endpoint sees it through its driver: the real
    validator of the fixture (started outside any driver) at its real metrics URL."""

    def __init__(self, metrics_url: str | None, running: bool = True) -> None:
        self.metrics_url, self.running = metrics_url, running

    def inspect_node(self, *, network_id: str, node_id: str):
        from deploy.drivers import NodeState

        return NodeState(node_id=node_id, exists=True, running=self.running, rpc_url=None,
                         metrics_url=self.metrics_url)


def _families(text: str) -> dict:
    from prometheus_client.parser import text_string_to_metric_families

    return {f.name: f for f in text_string_to_metric_families(text)}


@pytest.mark.cometbft
@pytest.mark.django_db
def test_cometbft_metrics_of_a_real_node_through_the_endpoint(chain_with_metrics,
                                                               monkeypatch):
    """?source=cometbft relays CometBFT's own metrics (consensus height > 0), ?source=all
    adds them to the host's in one parseable answer; another tenant gets 404, a bad source
    400, a stopped node or a listener that does not answer 503."""
    url, client, metrics_url = chain_with_metrics
    _wait_height(client, 1)
    runtime = _Runtime(metrics_url)
    monkeypatch.setattr("deploy.drivers.registry.driver_for", lambda network: runtime)
    member = MembershipFactory(role="viewer")
    network = NetworkFactory(tenant=member.tenant, chain_id=CHAIN_ID)
    node = NodeFactory(network=network, rpc_url=url, health=NodeHealth.HEALTHY, index=0,
                       metrics_port=int(metrics_url.rsplit(":", 1)[1]))
    path = f"/api/v1/networks/{network.pk}/nodes/{node.pk}/metrics/"
    api = api_client_for(member.user, member.tenant)

    response = api.get(path + "?source=cometbft")
    assert response.status_code == 200, response.content[:300]
    assert response["Content-Type"].startswith("text/plain")
    families = _families(response.content.decode())
    (height,) = families["cometbft_consensus_height"].samples
    assert height.value > 0
    assert not any(name.startswith("ledger_") for name in families)

    both = _families(api.get(path + "?source=all").content.decode())
    assert both["cometbft_consensus_height"].samples[0].value >= height.value
    assert both["ledger_height"].samples[0].value >= 1
    # the default stays the chaincode host's figures only
    assert not any(n.startswith("cometbft_") for n in _families(api.get(path).content.decode()))

    bad = api.get(path + "?source=prometheus")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_source"
    stranger = MembershipFactory(role="owner")
    assert api_client_for(stranger.user, stranger.tenant).get(
        path + "?source=cometbft").status_code == 404

    runtime.running = False
    down = api.get(path + "?source=cometbft")
    assert down.status_code == 503 and down.json()["error"]["code"] == "node_unreachable"
    runtime.running, runtime.metrics_url = True, "http://127.0.0.1:9"  # nothing listens
    down = api.get(path + "?source=cometbft")
    assert down.status_code == 503 and down.json()["error"]["code"] == "node_unreachable"


@pytest.mark.django_db
def test_a_node_from_before_metrics_says_so_instead_of_failing(monkeypatch):
    """A node planned without a metrics port answers 409 with a stable code and a message;
    the driver is not even asked."""
    def never(network):
        raise AssertionError("the driver must not be asked")

    monkeypatch.setattr("deploy.drivers.registry.driver_for", never)
    member = MembershipFactory(role="viewer")
    network = NetworkFactory(tenant=member.tenant)
    node = NodeFactory(network=network, index=0, metrics_port=None)
    response = api_client_for(member.user, member.tenant).get(
        f"/api/v1/networks/{network.pk}/nodes/{node.pk}/metrics/?source=cometbft")
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "cometbft_metrics_unavailable"
    assert "created before CometBFT metrics" in error["message"]


@pytest.mark.django_db
def test_an_oversized_metrics_answer_is_refused_not_relayed(monkeypatch):
    import http.server
    import threading

    class Big(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"# " + b"x" * (4 * 1024 * 1024 + 10) + b"\n")

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Big)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        runtime = _Runtime(f"http://127.0.0.1:{server.server_address[1]}")
        monkeypatch.setattr("deploy.drivers.registry.driver_for", lambda network: runtime)
        member = MembershipFactory(role="viewer")
        network = NetworkFactory(tenant=member.tenant)
        node = NodeFactory(network=network, index=0, metrics_port=26660)
        response = api_client_for(member.user, member.tenant).get(
            f"/api/v1/networks/{network.pk}/nodes/{node.pk}/metrics/?source=cometbft")
        assert response.status_code == 502
        assert response.json()["error"]["code"] == "metrics_too_large"
    finally:
        server.shutdown()


@pytest.mark.django_db
@pytest.mark.parametrize(("scopes", "status"), [(["read"], 409), (["write"], 403)])
def test_cometbft_metrics_need_the_read_scope_like_the_host_metrics(monkeypatch, scopes,
                                                                    status):
    """An API token reaches ?source=cometbft with the read scope (here: the node has no
    listener, so 409 tells it got through); without it, 403 before anything is read."""
    from rest_framework.test import APIClient

    from tenants import services as tenant_services

    monkeypatch.setattr("deploy.drivers.registry.driver_for", lambda network: _Runtime(None))
    owner = MembershipFactory(role="owner")
    network = NetworkFactory(tenant=owner.tenant)
    node = NodeFactory(network=network, index=0, metrics_port=None)
    _row, raw = tenant_services.token_create(tenant=owner.tenant, actor=owner.user,
                                             membership=owner, name="scraper", scopes=scopes)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    response = client.get(
        f"/api/v1/networks/{network.pk}/nodes/{node.pk}/metrics/?source=cometbft")
    assert response.status_code == status, response.content[:200]
    if status == 403:
        assert response.json()["error"]["code"] != "cometbft_metrics_unavailable"


@pytest.mark.django_db
@pytest.mark.parametrize(("kind", "caption"), [
    ("requested", "Disk requested (volume claims, not usage)"),
    ("used", "Disk used"),
])
def test_the_disk_figure_says_what_it_is(client, monkeypatch, kind, caption):
    """The sampler stores what the driver says the bytes are; the API and the panel carry
    it, so a Kubernetes claim's requested capacity is never shown as bytes used."""
    from deploy.drivers import DiskUsage

    class Runtime:
        def disk_usage(self, *, network_id):
            return DiskUsage(bytes=5 << 30, kind=kind)

    monkeypatch.setattr("deploy.drivers.driver_for", lambda network: Runtime())
    member = MembershipFactory(role="viewer")
    network = NetworkFactory(tenant=member.tenant)
    assert sampler._disk(network) == (5 << 30, kind)
    _samples(network, [1, 61, 121], [None, 6, 12])
    NetworkSample.objects.filter(network=network).update(disk_kind=kind)
    body = api_client_for(member.user, member.tenant).get(
        f"/api/v1/networks/{network.pk}/activity/?window=1h").json()
    assert body["disk_kind"] == kind
    client.force_login(member.user)
    text = client.get(f"/networks/{network.pk}/activity/?window=1h").content.decode()
    assert caption in text
    assert "not available" not in text
    assert ("not usage" in text) == (kind == "requested")


@pytest.mark.django_db
def test_a_driver_that_cannot_tell_the_disk_gives_no_figure(monkeypatch):
    from deploy.drivers import DriverError

    class Down:
        def disk_usage(self, *, network_id):
            raise DriverError("driver_unavailable", "engine down")

    monkeypatch.setattr("deploy.drivers.driver_for", lambda network: Down())
    assert sampler._disk(NetworkFactory()) == (None, "")
