"""A tenant's own cluster end to end, against the real kube-apiserver of
``scripts/kube-test-env.sh``: registered through the API, chosen when a network is created,
used by the provision and delete tasks through ``driver_for``, and never by another tenant.

The platform's own cluster is left unconfigured (no ``BAAS_KUBE_KUBECONFIG``, no in-cluster
config): whatever reaches the API server can only have come through the registered
cluster's sealed kubeconfig. With no kubelet no block ever comes, so the network ends
``node_unhealthy``; what is checked is where its objects went and whose labels they carry.
"""

from __future__ import annotations

import uuid

import pytest

from deploy import tasks
from deploy.choices import NetworkStatus
from deploy.drivers import k8s_manifests as m
from deploy.drivers import registry
from deploy.drivers.kubernetes import KubernetesDriver
from deploy.models import Network
from deploy.tests.factories import MembershipFactory
from deploy.tests.test_clusters import client_for, inline, register
from deploy.tests.test_drivers_kubernetes import _cleanup

pytestmark = [pytest.mark.django_db, pytest.mark.kubernetes]


@pytest.fixture
def cluster_env(kube_env, key_file, settings, monkeypatch, cometbft):
    install_id = f"test-{uuid.uuid4().hex[:8]}"
    settings.BAAS_CLUSTER_ALLOW_PRIVATE = True
    settings.BAAS_INSTALL_ID = install_id
    settings.BAAS_KUBE_KUBECONFIG = None  # no platform cluster: only the registered one
    settings.DEPLOY_FIRST_BLOCK_TIMEOUT_S = 1
    monkeypatch.delenv("BAAS_KUBE_KUBECONFIG", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    for name in ("network_provision_task", "network_delete_task"):  # run below, in order
        monkeypatch.setattr(f"deploy.tasks.{name}.delay", lambda *a: None)
    registry.reset_cache()
    admin = KubernetesDriver(kubeconfig=kube_env.kubeconfig, install_id="admin-view").api
    yield kube_env, install_id, admin
    registry.reset_cache()
    _cleanup(admin, install_id)


def test_a_network_runs_on_its_tenants_registered_cluster_and_nowhere_else(owner, cluster_env):
    kube_env, install_id, admin = cluster_env
    client = client_for(owner)
    res = register(client, inline(kube_env.kubeconfig), name="own")
    assert res.status_code == 201, res.content
    cluster_id = res.json()["id"]

    # Another tenant may neither use the cluster nor learn that it exists.
    stranger = client_for(MembershipFactory(role="owner"))
    res = stranger.post("/api/v1/networks/", {"name": "theirs", "validators": 1,
                                              "driver": "kubernetes", "cluster": cluster_id},
                        format="json")
    assert res.status_code == 400 and res.json()["error"]["code"] == "cluster_unknown"

    res = client.post("/api/v1/networks/", {"name": "on-own-cluster", "validators": 2,
                                            "driver": "kubernetes", "cluster": cluster_id},
                      format="json")
    assert res.status_code == 202, res.content
    network = Network.objects.get(pk=res.json()["network"]["id"])
    assert str(network.cluster_id) == cluster_id
    tasks.network_provision_task(str(network.pk), res.json()["operation"]["id"])

    network.refresh_from_db()
    assert (network.status, network.error_code) == (NetworkStatus.FAILED, "node_unhealthy")
    namespaces = admin.list("Namespace", selector=f"{m.L_INSTALL}={install_id}")
    assert [ns["metadata"]["name"] for ns in namespaces] == [f"baas-{network.pk}"]
    labels = namespaces[0]["metadata"]["labels"]
    assert labels[m.L_TENANT] == str(owner.tenant.pk)
    assert labels[m.L_NETWORK] == str(network.pk)
    assert {s["metadata"]["name"] for s in admin.list("StatefulSet", f"baas-{network.pk}")} \
        == {"node0", "node1"}

    # The cluster cannot go while a network uses it; after the network's delete it can.
    assert client.delete(f"/api/v1/clusters/{cluster_id}/").status_code == 409
    res = client.delete(f"/api/v1/networks/{network.pk}/")
    assert res.status_code == 202, res.content
    tasks.network_delete_task(str(network.pk), res.json()["operation"]["id"])
    network.refresh_from_db()
    assert network.status == NetworkStatus.DELETED
    assert admin.get("Namespace", f"baas-{network.pk}") is None
    assert client.delete(f"/api/v1/clusters/{cluster_id}/").status_code == 204
