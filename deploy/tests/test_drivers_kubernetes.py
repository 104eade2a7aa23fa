"""The Kubernetes driver against a real kube-apiserver with etcd (``scripts/kube-test-env.sh``).

What these tests prove: the driver's objects are created, labelled, namespaced, patched,
repaired and removed as intended by a real API server (its validation, defaulting,
server-side apply, RBAC, namespace deletion by the controller manager), a second apply
changes nothing, and one tenant's or install's objects are never selected by another's
operations.

The shared contract of the local and Docker drivers (``test_drivers_local.py``,
``test_drivers_docker.py``) is run here as far as an API server without kubelets allows:
idempotent apply, home files only on first create (the init container, tested offline),
stop/start, unknown nodes, delete of ours and only ours, list_owned, invalid limits,
planning by name, moving a stopped node to another ledger version and refusing a running
one. What needs a full cluster (kubelets, a StatefulSet controller, a CNI, DNS) and is not
tested here: pods being created and running, the init container copying the home, blocks
being made, peers dialling each other by DNS name, the readiness probe, restart counts after
a crash, ``logs`` returning a container's output, PVCs made from the claim template, the
NetworkPolicy being enforced, and images pulled from a registry.

Every test namespace has a unique (uuid) name and is deleted by the test's fixture: several
people share the API server.
"""

from __future__ import annotations

import base64
import dataclasses
import time
import uuid

import pytest

from deploy.drivers import DriverError, NodeSpec
from deploy.drivers import k8s_manifests as m
from deploy.drivers._instrumentation import instrumented
from deploy.drivers.kubernetes import RBAC_RULES, KubernetesDriver, render_node

pytestmark = pytest.mark.kubernetes

V1, V2 = "0123456789abcdef", "fedcba9876543210"
SECRET = b'{"priv_key": {"value": "do-not-leak"}}'


@pytest.fixture
def install_id() -> str:
    return f"test-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def admin(kube_env):
    """The cluster admin's view, to check what the driver made (and to break it)."""
    return KubernetesDriver(kubeconfig=kube_env.kubeconfig, install_id="admin-view").api


def _cleanup(api, install_id: str) -> None:
    """Delete every namespace this test's install made and wait until they are gone."""
    selector = f"{m.L_INSTALL}={install_id}"
    for ns in api.list("Namespace", selector=selector):
        name = ns["metadata"]["name"]
        # No pvc-protection controller runs here to lift its finalizer from the claims a
        # test made: without this the namespace would stay terminating for ever.
        for pvc in api.list("PersistentVolumeClaim", name):
            api.merge_patch("PersistentVolumeClaim", pvc["metadata"]["name"], name,
                            {"metadata": {"finalizers": None}})
        for pod in api.list("Pod", name):  # no kubelet confirms a graceful pod deletion
            api.request("DELETE", f"/api/v1/namespaces/{name}/pods/{pod['metadata']['name']}",
                        body={"apiVersion": "v1", "kind": "DeleteOptions",
                              "gracePeriodSeconds": 0},
                        content_type="application/json", action="force-delete a test pod")
        api.delete("Namespace", name)
    deadline = time.monotonic() + 120
    while api.list("Namespace", selector=selector) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not api.list("Namespace", selector=selector), "a test namespace is stuck"


@pytest.fixture
def driver(kube_env, admin, install_id):
    drv = KubernetesDriver(kubeconfig=kube_env.kubeconfig, install_id=install_id, timeout=15,
                           ready_timeout=120, storage_gb=2)
    yield drv
    _cleanup(admin, install_id)


def make_spec(drv: KubernetesDriver, network_id: str, index: int, *, tenant: str = "t1",
              **changes) -> NodeSpec:
    base = NodeSpec(
        install_id=drv.install_id, tenant_id=tenant, network_id=network_id,
        node_id=str(uuid.uuid4()), index=index, moniker=f"node{index}",
        address=drv.plan_node(network_id=network_id, index=index),
        home_files={"node.json": f'{{"moniker": "node{index}"}}'.encode(),
                    "cometbft/config/config.toml": b'moniker = "x"\n'},
        secret_files={"cometbft/config/priv_validator_key.json": SECRET},
        cpu_limit=0.5, memory_mb=256, ledger_version=V1)
    return dataclasses.replace(base, **changes)


def network(drv: KubernetesDriver, size: int, *, tenant: str = "t1") -> list[NodeSpec]:
    net = str(uuid.uuid4())
    drv.prepare_network(install_id=drv.install_id, tenant_id=tenant, network_id=net)
    specs = [make_spec(drv, net, i, tenant=tenant) for i in range(size)]
    for spec in specs:
        drv.apply_node(spec)
    return specs


def objects(api, spec: NodeSpec) -> dict[str, dict | None]:
    ns, name = f"baas-{spec.network_id}", f"node{spec.index}"
    return {
        "Service": api.get("Service", name, ns),
        "ConfigMap": api.get("ConfigMap", f"{name}-home", ns),
        "Secret": api.get("Secret", f"{name}-keys", ns),
        "StatefulSet": api.get("StatefulSet", name, ns),
    }


def versions(api, network_id: str, specs: list[NodeSpec]) -> dict[str, str]:
    ns = f"baas-{network_id}"
    found = {"Namespace": api.get("Namespace", ns),
             "NetworkPolicy": api.get("NetworkPolicy", "baas-isolation", ns),
             "PodDisruptionBudget": api.get("PodDisruptionBudget", "validators", ns)}
    for spec in specs:
        found |= {f"{k}/{spec.index}": v for k, v in objects(api, spec).items()}
    return {k: v["metadata"]["resourceVersion"] for k, v in found.items()}


# --- apply ---------------------------------------------------------------------------------


def test_a_four_validator_network_is_made_labelled_and_a_second_apply_changes_nothing(
        driver, admin):
    from deploy.drivers.testing import make_specs
    from deploy.homes import is_secret

    # real homes (cometbft init, genesis with four validators) split as the control plane does
    specs = make_specs(driver, validators=4, install_id=driver.install_id, tenant_id="t1")
    specs = [dataclasses.replace(
        s, ledger_version=V1,
        home_files={p: c for p, c in s.home_files.items() if not is_secret(p)},
        secret_files={p: c for p, c in s.home_files.items() if is_secret(p)}) for s in specs]
    net = specs[0].network_id
    ns = f"baas-{net}"
    assert specs[2].address.host == f"node2.{ns}.svc.cluster.local"
    driver.prepare_network(install_id=driver.install_id, tenant_id="t1", network_id=net)
    states = [driver.apply_node(s) for s in specs]

    ownership = {m.L_INSTALL: driver.install_id, m.L_TENANT: "t1", m.L_NETWORK: net,
                 m.MANAGED_BY: "baas"}
    namespace = admin.get("Namespace", ns)
    assert ownership.items() <= namespace["metadata"]["labels"].items()
    policy = admin.get("NetworkPolicy", "baas-isolation", ns)
    assert ownership.items() <= policy["metadata"]["labels"].items()
    assert len(policy["spec"]["ingress"]) == 2
    pdb = admin.get("PodDisruptionBudget", "validators", ns)
    assert pdb["spec"]["minAvailable"] == 3
    assert ownership.items() <= pdb["metadata"]["labels"].items()
    for spec, state in zip(specs, states, strict=True):
        found = objects(admin, spec)
        for obj in found.values():
            assert obj["metadata"]["namespace"] == ns
            assert {**ownership, m.L_NODE: spec.node_id, m.L_INDEX: str(spec.index),
                    m.L_ROLE: "validator"}.items() <= obj["metadata"]["labels"].items()
        svc, cm, secret, sts = (found[k] for k in ("Service", "ConfigMap", "Secret",
                                                   "StatefulSet"))
        assert svc["spec"]["clusterIP"] == "None" and svc["spec"]["publishNotReadyAddresses"]
        assert [p["port"] for p in svc["spec"]["ports"]] == [26656, 26657, 26660]
        keys = {base64.b64decode(v) for v in secret["data"].values()}
        assert keys == set(spec.secret_files.values()) and len(keys) == 2
        cm_files = {base64.b64decode(v) for v in cm["binaryData"].values()}
        # the driver turns CometBFT's metrics listener on in config.toml as it renders it
        listen = f":{spec.address.metrics_port}" if spec.address.metrics_port else None
        assert cm_files == set(instrumented(spec.home_files, listen=listen).values())
        assert not keys & cm_files
        assert sts["spec"]["replicas"] == 1 and sts["spec"]["serviceName"] == f"node{spec.index}"
        pod = sts["spec"]["template"]["spec"]
        assert pod["containers"][0]["image"] == f"baas/node:ledger-{V1}"
        assert pod["automountServiceAccountToken"] is False
        claim = sts["spec"]["volumeClaimTemplates"][0]
        assert claim["spec"]["resources"]["requests"]["storage"] == "2Gi"
        assert state.exists and state.running and state.ledger_version == V1
        assert state.rpc_url == f"http://node{spec.index}.{ns}.svc.cluster.local:26657"
        assert "not created yet" in state.detail  # no kubelet, no StatefulSet controller

    before = versions(admin, net, specs)
    driver.prepare_network(install_id=driver.install_id, tenant_id="t1", network_id=net)
    for spec in specs:
        driver.apply_node(spec)
    assert versions(admin, net, specs) == before  # a second apply changes nothing
    assert driver.drift(network_id=net) == []


def test_the_api_server_accepts_every_object_and_a_pod_of_the_template_is_restricted(
        driver, admin):
    """Dry runs: the API server validates each manifest (beyond the offline schemas), and
    Pod Security admission ``restricted`` (set on the namespace) admits the node's pod."""
    (spec,) = network(driver, 1)
    ns = f"baas-{spec.network_id}"
    for obj in render_node(make_spec(driver, spec.network_id, 5), image="baas/node:ledger-x",
                           storage_class="standard"):
        assert admin.apply(obj, dry_run=True)["metadata"]["name"] == obj["metadata"]["name"]
    template = admin.get("StatefulSet", "node0", ns)["spec"]["template"]
    # as the StatefulSet controller makes it: the template plus the claim as volume "data"
    volumes = [*template["spec"]["volumes"],
               {"name": "data", "persistentVolumeClaim": {"claimName": "data-node0-0"}}]
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": "dry-run-node0", "namespace": ns,
                        "labels": template["metadata"]["labels"]},
           "spec": {**template["spec"], "volumes": volumes}}
    assert admin.apply(pod, dry_run=True)["kind"] == "Pod"
    privileged = {**pod, "spec": {**pod["spec"], "securityContext": {}}}
    privileged["spec"]["containers"] = [{**pod["spec"]["containers"][0],
                                         "securityContext": {"privileged": True}}]
    with pytest.raises(DriverError) as err:  # the namespace's policy is really enforced
        admin.apply(privileged, dry_run=True)
    assert err.value.code == "cluster_forbidden" and "restricted" in err.value.message
    assert admin.get("Pod", "dry-run-node0", ns) is None


def test_a_manifest_the_api_server_refuses_is_invalid_spec(driver):
    bad = KubernetesDriver(kubeconfig=driver.kubeconfig, install_id=driver.install_id,
                           storage_class="Not_A_Valid_Class!")
    net = str(uuid.uuid4())
    with pytest.raises(DriverError) as err:
        bad.apply_node(make_spec(bad, net, 0))
    assert err.value.code == "invalid_spec" and "storageClassName" in err.value.message


# --- update, drift ------------------------------------------------------------------------


def test_updates_are_patched_and_a_running_node_never_changes_version(driver, admin):
    specs = network(driver, 2)
    spec = specs[0]
    ids = {"network_id": spec.network_id, "node_id": spec.node_id}
    ns = f"baas-{spec.network_id}"
    before = admin.get("StatefulSet", "node0", ns)["metadata"]["resourceVersion"]
    driver.apply_node(dataclasses.replace(spec, cpu_limit=2.0, memory_mb=1024))
    sts = admin.get("StatefulSet", "node0", ns)
    assert sts["metadata"]["resourceVersion"] != before
    assert sts["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"] == \
        {"cpu": "2", "memory": "1Gi"}
    assert driver.drift(network_id=spec.network_id) == []  # "1024Mi" is stored as "1Gi"
    moved = dataclasses.replace(spec, ledger_version=V2)
    with pytest.raises(DriverError) as err:
        driver.apply_node(moved)
    assert err.value.code == "runtime_mismatch"
    assert driver.inspect_node(**ids).ledger_version == V1
    driver.stop_node(**ids)
    state = driver.apply_node(moved)
    assert state.running and state.ledger_version == V2
    sts = admin.get("StatefulSet", "node0", ns)
    assert sts["spec"]["template"]["spec"]["containers"][0]["image"] == f"baas/node:ledger-{V2}"
    assert sts["spec"]["replicas"] == 1
    other = admin.get("StatefulSet", "node1", ns)
    assert other["metadata"]["labels"][m.L_VERSION] == V1  # the other node was not touched


def test_drift_is_detected_and_repaired_by_applying_again(driver, admin):
    specs = network(driver, 2)
    net, ns = specs[0].network_id, f"baas-{specs[0].network_id}"
    assert driver.drift(network_id=net) == []
    # an operator edits and deletes things by hand (another field manager)
    admin.merge_patch("StatefulSet", "node0", ns, {"spec": {"replicas": 0, "template": {
        "spec": {"containers": [{"name": "node", "image": "evil/node:1"}]}}}})
    admin.delete("Service", "node1", ns)
    admin.merge_patch("ConfigMap", "node1-home", ns, {"metadata": {"labels": {
        m.L_TENANT: "someone-else"}}})
    admin.merge_patch("Secret", "node0-keys", ns, {"data": {
        m.file_key("cometbft/config/priv_validator_key.json"): base64.b64encode(b"x").decode()}})
    policy = admin.get("NetworkPolicy", "baas-isolation", ns)
    admin.merge_patch("NetworkPolicy", "baas-isolation", ns, {"spec": {"ingress": [
        *policy["spec"]["ingress"], {"from": [{"namespaceSelector": {}}]}]}})
    admin.delete("PodDisruptionBudget", "validators", ns)

    found = "\n".join(driver.drift(network_id=net))
    assert "StatefulSet node0: .spec.replicas is 0, the driver set 1" in found
    assert "evil/node:1" in found
    assert "Service node1 is missing" in found
    assert "ConfigMap node1-home: .metadata.labels.baas.io/tenant is 'someone-else'" in found
    assert "Secret node0-keys: their content is not what the driver applied" in found
    assert "NetworkPolicy baas-isolation: .spec.ingress has 3 entries, the driver set 2" in found
    assert "PodDisruptionBudget validators is missing" in found

    for spec in specs:
        driver.apply_node(spec)
    assert driver.drift(network_id=net) == []
    assert admin.get("StatefulSet", "node0", ns)["spec"]["replicas"] == 1
    keys = admin.get("Secret", "node0-keys", ns)["data"]
    assert SECRET in {base64.b64decode(v) for v in keys.values()}


def test_a_deleted_statefulset_is_drift_and_inspect_reports_it_gone(driver, admin):
    specs = network(driver, 2)
    net, ns = specs[0].network_id, f"baas-{specs[0].network_id}"
    admin.delete("StatefulSet", "node1", ns)
    assert f"StatefulSet node1 of node {specs[1].node_id} is missing" in driver.drift(
        network_id=net)
    assert not driver.inspect_node(network_id=net, node_id=specs[1].node_id).exists
    driver.apply_node(specs[1])
    assert driver.drift(network_id=net) == []


def test_stop_and_start_scale_the_statefulset(driver, admin):
    (spec,) = network(driver, 1)
    ids = {"network_id": spec.network_id, "node_id": spec.node_id}
    ns = f"baas-{spec.network_id}"
    driver.stop_node(**ids)
    driver.stop_node(**ids)  # idempotent
    assert admin.get("StatefulSet", "node0", ns)["spec"]["replicas"] == 0
    stopped = driver.inspect_node(**ids)
    assert stopped.exists and not stopped.running and stopped.rpc_url is None
    assert "scaled to 0" in stopped.detail
    assert driver.drift(network_id=spec.network_id) == []  # stopped on purpose: no drift
    assert "no logs" in driver.logs(**ids)
    started = driver.start_node(**ids)
    assert started.running and admin.get("StatefulSet", "node0", ns)["spec"]["replicas"] == 1
    with pytest.raises(DriverError) as err:
        driver.wait_ready(network_id=spec.network_id, node_ids=[spec.node_id], timeout=1)
    assert err.value.code == "driver_timeout" and "node0-0" in err.value.message


def test_a_pod_as_a_kubelet_reports_it_is_read_by_inspect_wait_ready_and_logs(driver, admin):
    """No kubelet runs here, so the test plays one: it stores node0's pod as the StatefulSet
    controller would, then its status as a kubelet would (pending, then running and ready
    after two restarts)."""
    (spec,) = network(driver, 1)
    ids = {"network_id": spec.network_id, "node_id": spec.node_id}
    ns = f"baas-{spec.network_id}"
    template = admin.get("StatefulSet", "node0", ns)["spec"]["template"]
    volumes = [*template["spec"]["volumes"],
               {"name": "data", "persistentVolumeClaim": {"claimName": "data-node0-0"}}]
    admin.apply({"apiVersion": "v1", "kind": "Pod",
                 "metadata": {"name": "node0-0", "namespace": ns,
                              "labels": template["metadata"]["labels"]},
                 "spec": {**template["spec"], "volumes": volumes, "nodeName": "worker-1"}})
    assert driver.inspect_node(**ids).detail == "pod node0-0 pending, not ready"
    assert "no logs" in driver.logs(**ids)

    def status(body: dict) -> None:
        admin.request("PATCH", f"/api/v1/namespaces/{ns}/pods/node0-0/status",
                      body={"status": body}, content_type="application/merge-patch+json",
                      action="play the kubelet")

    status({"conditions": [{"type": "PodScheduled", "status": "True"}],
            "initContainerStatuses": [{"name": "home", "image": "i", "imageID": "",
                                       "ready": False, "restartCount": 0, "state": {
                                           "waiting": {"reason": "ErrImagePull",
                                                       "message": "not in the registry"}}}]})
    assert driver.inspect_node(**ids).detail == (
        "pod node0-0 container home waiting: ErrImagePull not in the registry")
    with pytest.raises(DriverError) as err:
        driver.wait_ready(network_id=spec.network_id, node_ids=[spec.node_id], timeout=1)
    assert "ErrImagePull" in err.value.message
    status({"phase": "Running", "initContainerStatuses": None,
            "conditions": [{"type": "Ready", "status": "True"}],
            "containerStatuses": [{"name": "node", "image": "i", "imageID": "", "ready": True,
                                   "restartCount": 2, "state": {"running": {}}}]})
    state = driver.inspect_node(**ids)
    assert (state.detail, state.restart_count) == ("pod node0-0 running, ready", 2)
    driver.wait_ready(network_id=spec.network_id, node_ids=[spec.node_id], timeout=5)
    # the API server asks the pod's kubelet for the logs; there is none: a clear line
    assert driver.logs(**ids).startswith("[baas] no logs:")


def test_unknown_nodes_are_not_found_or_quietly_absent(driver):
    (spec,) = network(driver, 1)
    for ids in ({"network_id": spec.network_id, "node_id": str(uuid.uuid4())},
                {"network_id": str(uuid.uuid4()), "node_id": spec.node_id}):
        state = driver.inspect_node(**ids)
        assert not state.exists and not state.running and state.rpc_url is None
        for call in (driver.start_node, driver.logs):
            with pytest.raises(DriverError) as err:
                call(**ids)
            assert err.value.code == "node_not_found"
        driver.stop_node(**ids)
        driver.delete_node(**ids)
    assert driver.inspect_node(network_id=spec.network_id, node_id=spec.node_id).running


# --- delete --------------------------------------------------------------------------------


def _claim(admin, spec: NodeSpec) -> None:
    """The PVC a StatefulSet controller would make from the claim template (none runs
    here), with the template's labels."""
    sts = admin.get("StatefulSet", f"node{spec.index}", f"baas-{spec.network_id}")
    template = sts["spec"]["volumeClaimTemplates"][0]
    admin.apply({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                 "metadata": {"name": f"data-node{spec.index}-0",
                              "namespace": f"baas-{spec.network_id}",
                              "labels": template["metadata"]["labels"]},
                 "spec": template["spec"]})


def test_delete_node_removes_that_node_and_its_data_only(driver, admin):
    specs = network(driver, 3)
    net, ns = specs[0].network_id, f"baas-{specs[0].network_id}"
    for spec in specs:
        _claim(admin, spec)
    assert admin.get("PodDisruptionBudget", "validators", ns)["spec"]["minAvailable"] == 3
    driver.delete_node(network_id=net, node_id=specs[0].node_id)
    driver.delete_node(network_id=net, node_id=specs[0].node_id)  # idempotent
    assert all(v is None for v in objects(admin, specs[0]).values())
    gone = admin.get("PersistentVolumeClaim", "data-node0-0", ns)
    assert gone is None or gone["metadata"].get("deletionTimestamp")  # pvc-protection
    for spec in specs[1:]:
        assert all(v is not None for v in objects(admin, spec).values())
        assert admin.get("PersistentVolumeClaim", f"data-node{spec.index}-0", ns)
    # the budget follows: 2 validators left, both must stay
    assert admin.get("PodDisruptionBudget", "validators", ns)["spec"]["minAvailable"] == 2
    assert driver.drift(network_id=net) == []


@pytest.mark.parametrize("label", ["x", "1e3", "99999999999999999999"])
def test_an_edited_index_label_never_raises_and_delete_still_finds_the_keys(
        driver, admin, label):
    """Whoever runs a tenant's cluster can edit labels (to any valid label value); the
    index comes from the immutable name, so ``int()`` of a label never raises and a
    label never points the RPC URL at another node."""
    (spec,) = network(driver, 1)
    ids = {"network_id": spec.network_id, "node_id": spec.node_id}
    ns = f"baas-{spec.network_id}"
    for path in (f"/apis/apps/v1/namespaces/{ns}/statefulsets/node0",
                 f"/api/v1/namespaces/{ns}/services/node0",
                 f"/api/v1/namespaces/{ns}/configmaps/node0-home"):
        admin.request("PATCH", path, body={"metadata": {"labels": {m.L_INDEX: label}}},
                      content_type="application/merge-patch+json", action="edit a label")
    state = driver.inspect_node(**ids)
    assert state.exists and state.rpc_url is not None
    assert state.rpc_url.startswith("http://node0.")
    # annotations are free text: a count that is not one is drift, never an exception
    admin.request("PATCH", f"/apis/apps/v1/namespaces/{ns}/statefulsets/node0",
                  body={"metadata": {"annotations": {m.A_REPLICAS: "\u00b2", m.A_CPU: "nan",
                                                     m.A_MEMORY: label}}},
                  content_type="application/merge-patch+json", action="edit annotations")
    assert driver.drift(network_id=spec.network_id)
    driver.apply_node(spec)
    assert driver.drift(network_id=spec.network_id) == []
    driver.delete_node(**ids)
    assert all(v is None for v in objects(admin, spec).values())


def test_delete_network_waits_until_the_namespace_is_gone(driver, admin):
    specs = network(driver, 2)
    net, ns = specs[0].network_id, f"baas-{specs[0].network_id}"
    driver.delete_network(network_id=net)
    assert admin.get("Namespace", ns) is None  # gone, not merely terminating
    driver.delete_network(network_id=net)  # idempotent
    assert driver.list_owned(install_id=driver.install_id) == []


def test_delete_network_times_out_with_driver_timeout(driver, admin):
    (spec,) = network(driver, 1)
    ns = f"baas-{spec.network_id}"
    # a finalizer nobody removes keeps the namespace terminating
    admin.merge_patch("ConfigMap", "node0-home", ns,
                      {"metadata": {"finalizers": ["example.com/held"]}})
    quick = KubernetesDriver(kubeconfig=driver.kubeconfig, install_id=driver.install_id,
                             ready_timeout=3)
    try:
        with pytest.raises(DriverError) as err:
            quick.delete_network(network_id=spec.network_id)
        assert err.value.code == "driver_timeout" and ns in err.value.message
    finally:
        admin.merge_patch("ConfigMap", "node0-home", ns, {"metadata": {"finalizers": None}})


# --- ownership and isolation ---------------------------------------------------------------


def test_list_owned_and_operations_never_reach_another_tenant_or_install(
        driver, admin, kube_env):
    mine_t1 = network(driver, 2, tenant="t1")
    mine_t2 = network(driver, 1, tenant="t2")
    other = KubernetesDriver(kubeconfig=kube_env.kubeconfig, install_id=f"{driver.install_id}-b")
    try:
        theirs = network(other, 1, tenant="t1")
        owned = driver.list_owned(install_id=driver.install_id)
        assert {r.network_id for r in owned} == {mine_t1[0].network_id, mine_t2[0].network_id}
        assert {r.node_id for r in owned if r.kind == "statefulset"} == {
            s.node_id for s in mine_t1 + mine_t2}
        assert {r.kind for r in owned} == {"namespace", "statefulset", "service", "configmap"}
        assert [r.network_id for r in other.list_owned(install_id=other.install_id)
                if r.kind == "namespace"] == [theirs[0].network_id]

        # tenant t1's network id with tenant t2's node: nothing of t2 is selected
        cross = {"network_id": mine_t1[0].network_id, "node_id": mine_t2[0].node_id}
        assert not driver.inspect_node(**cross).exists
        driver.stop_node(**cross)
        driver.delete_node(**cross)
        assert driver.inspect_node(network_id=mine_t2[0].network_id,
                                   node_id=mine_t2[0].node_id).running
        # another install's driver sees none of ours, and cannot stop or delete it
        ours = {"network_id": mine_t1[0].network_id, "node_id": mine_t1[0].node_id}
        assert not other.inspect_node(**ours).exists
        other.stop_node(**ours)
        other.delete_node(**ours)
        other.delete_network(network_id=mine_t1[0].network_id)
        assert driver.inspect_node(**ours).running
        # a namespace of that network under another tenant is refused, not adopted
        with pytest.raises(DriverError) as err:
            driver.prepare_network(install_id=driver.install_id, tenant_id="t2",
                                   network_id=mine_t1[0].network_id)
        assert err.value.code == "name_conflict"
        driver.delete_network(network_id=mine_t1[0].network_id)
        assert driver.inspect_node(network_id=mine_t2[0].network_id,
                                   node_id=mine_t2[0].node_id).running
        assert other.inspect_node(network_id=theirs[0].network_id,
                                  node_id=theirs[0].node_id).running
    finally:
        _cleanup(admin, other.install_id)


def test_a_statefulset_of_another_node_at_that_index_is_not_taken_over(driver):
    (spec,) = network(driver, 1)
    with pytest.raises(DriverError) as err:
        driver.apply_node(dataclasses.replace(spec, node_id=str(uuid.uuid4())))
    assert err.value.code == "name_conflict"


# --- RBAC: the driver's least rights -------------------------------------------------------


@pytest.fixture
def driver_role(kube_env, admin):
    """A ClusterRole of exactly RBAC_RULES bound to the user ``baas-driver``."""
    name = f"baas-driver-test-{uuid.uuid4().hex[:8]}"
    rbac = "/apis/rbac.authorization.k8s.io/v1"
    admin.request("POST", f"{rbac}/clusterroles", action="create role",
                  content_type="application/json",
                  body={"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                        "metadata": {"name": name}, "rules": RBAC_RULES})
    admin.request("POST", f"{rbac}/clusterrolebindings", action="bind role",
                  content_type="application/json",
                  body={"apiVersion": "rbac.authorization.k8s.io/v1",
                        "kind": "ClusterRoleBinding", "metadata": {"name": name},
                        "roleRef": {"apiGroup": "rbac.authorization.k8s.io",
                                    "kind": "ClusterRole", "name": name},
                        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User",
                                      "name": "baas-driver"}]})
    yield name
    for kind in ("clusterrolebindings", "clusterroles"):
        try:
            admin.request("DELETE", f"{rbac}/{kind}/{name}", action="clean up")
        except DriverError:
            pass


def test_the_driver_works_with_exactly_rbac_rules_and_nothing_more(
        kube_env, admin, install_id, driver_role):
    drv = KubernetesDriver(kubeconfig=kube_env.driver_kubeconfig, install_id=install_id,
                           ready_timeout=120)
    try:
        deadline = time.monotonic() + 30
        while True:  # the authorizer's cache picks up a new binding within moments
            try:
                drv.check()
                break
            except DriverError as exc:
                if exc.code != "cluster_forbidden" or time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        specs = network(drv, 2)
        net = specs[0].network_id
        ids = {"network_id": net, "node_id": specs[0].node_id}
        assert drv.inspect_node(**ids).running
        drv.stop_node(**ids)
        drv.apply_node(dataclasses.replace(specs[0], ledger_version=V2))
        assert "no logs" in drv.logs(**ids)
        assert drv.drift(network_id=net) == []
        assert len(drv.list_owned(install_id=install_id)) == 7
        drv.delete_node(**ids)
        drv.delete_network(network_id=net)
        assert admin.get("Namespace", f"baas-{net}") is None

        # outside the rules: enumerating anybody's secrets, or granting itself more
        with pytest.raises(DriverError) as err:
            drv.api.list("Secret", "kube-system")
        assert err.value.code == "cluster_forbidden"
        assert 'cannot list resource "secrets"' in err.value.message
        with pytest.raises(DriverError) as err:
            drv.api.request("POST", "/apis/rbac.authorization.k8s.io/v1/clusterroles",
                            action="create a ClusterRole", content_type="application/json",
                            body={"apiVersion": "rbac.authorization.k8s.io/v1",
                                  "kind": "ClusterRole", "metadata": {"name": driver_role + "x"},
                                  "rules": [{"apiGroups": ["*"], "resources": ["*"],
                                             "verbs": ["*"]}]})
        assert err.value.code == "cluster_forbidden" and "clusterroles" in err.value.message
    finally:
        _cleanup(admin, install_id)


def test_without_rights_check_names_what_is_refused(kube_env, admin, install_id):
    # a user of its own (the admin impersonates it), so no binding another test makes for
    # baas-driver on the shared API server can give it rights meanwhile
    drv = KubernetesDriver(kubeconfig=kube_env.kubeconfig, install_id=install_id)
    nobody = f"baas-nobody-{uuid.uuid4().hex[:8]}"
    drv.api.client.set_default_header("Impersonate-User", nobody)
    with pytest.raises(DriverError) as err:
        drv.check()
    assert err.value.code == "cluster_forbidden"
    assert "may not get namespaces" in err.value.message
    with pytest.raises(DriverError) as err:
        drv.prepare_network(install_id=install_id, tenant_id="t1", network_id=str(uuid.uuid4()))
    assert err.value.code == "cluster_forbidden" and nobody in err.value.message


# --- the control plane's own workflow on the cluster ----------------------------------------


@pytest.mark.django_db
def test_the_control_plane_provisions_onto_the_cluster_until_blocks_are_needed(
        kube_env, admin, install_id, owner, cometbft, key_file, settings, monkeypatch):
    """network_create -> provision task -> the kubernetes driver, with the stored homes and
    sealed keys of the control plane: every node is applied with its keys in the Secret
    only; with no kubelet no block ever comes, so the network fails ``node_unhealthy``,
    its nodes are scaled to 0 and the delete task removes the namespace."""
    from deploy import services, tasks
    from deploy.choices import NetworkStatus
    from deploy.drivers import registry
    from deploy.services import NetworkSpec

    settings.BAAS_KUBE_KUBECONFIG = kube_env.kubeconfig
    settings.BAAS_INSTALL_ID = install_id
    settings.DEPLOY_FIRST_BLOCK_TIMEOUT_S = 1
    registry.reset_cache()
    for name in ("network_provision_task", "network_delete_task"):
        monkeypatch.setattr(f"deploy.tasks.{name}.delay", lambda *a: None)
    try:
        network, op = services.network_create(
            tenant=owner.tenant, actor=owner.user,
            spec=NetworkSpec(name="on-k8s", validators=4, driver="kubernetes"))
        tasks.network_provision_task(str(network.pk), op.pk)
        network.refresh_from_db()
        assert (network.status, network.error_code) == (NetworkStatus.FAILED, "node_unhealthy")
        assert "not created yet" in network.error_message  # the node's detail, in words
        ns = f"baas-{network.pk}"
        assert admin.get("Namespace", ns)["metadata"]["labels"][m.L_TENANT] == str(
            owner.tenant.pk)
        for node in network.nodes.all():
            assert node.host == f"node{node.index}.{ns}.svc.cluster.local"
            sts = admin.get("StatefulSet", f"node{node.index}", ns)
            assert sts["metadata"]["labels"][m.L_NODE] == str(node.pk)
            assert sts["spec"]["replicas"] == 0  # the failed task stopped what it started
            secret = admin.get("Secret", f"node{node.index}-keys", ns)
            paths = {i["path"] for v in sts["spec"]["template"]["spec"]["volumes"]
                     if v["name"] == "home-keys" for i in v["secret"]["items"]}
            assert paths == {"cometbft/config/node_key.json",
                             "cometbft/config/priv_validator_key.json"}
            assert len(secret["data"]) == 2
            config = admin.get("ConfigMap", f"node{node.index}-home", ns)
            assert not any("key" in k for k in config["binaryData"])
        delete = services.network_delete(tenant=owner.tenant, actor=owner.user,
                                         network=network)
        tasks.network_delete_task(str(network.pk), delete.pk)
        network.refresh_from_db()
        assert network.status == NetworkStatus.DELETED
        assert admin.get("Namespace", ns) is None
    finally:
        registry.reset_cache()
        _cleanup(admin, install_id)


# --- review findings 5-8, 13: members, repairs, interrupted deletes, credential files --------


def test_a_members_validator_joins_the_owners_network_and_keeps_its_labels(driver, admin):
    """Finding 5: the namespace is checked against the network's owner, the member's own
    objects carry the member's label, the network's objects keep the owner's."""
    specs = network(driver, 1, tenant="owner")
    net, ns = specs[0].network_id, f"baas-{specs[0].network_id}"
    member = make_spec(driver, net, 1, tenant="member", network_tenant_id="owner")
    driver.apply_node(member)
    assert admin.get("StatefulSet", "node1", ns)["metadata"]["labels"][m.L_TENANT] == "member"
    assert admin.get("Secret", "node1-keys", ns)["metadata"]["labels"][m.L_TENANT] == "member"
    for kind, name in (("PodDisruptionBudget", "validators"),
                       ("NetworkPolicy", "baas-isolation")):
        assert admin.get(kind, name, ns)["metadata"]["labels"][m.L_TENANT] == "owner"
    assert admin.get("Namespace", ns)["metadata"]["labels"][m.L_TENANT] == "owner"
    assert admin.get("PodDisruptionBudget", "validators", ns)["spec"]["minAvailable"] == 2
    assert driver.drift(network_id=net) == []
    # without the owner, the namespace of another tenant is still refused
    stranger = make_spec(driver, net, 2, tenant="stranger")
    with pytest.raises(DriverError) as err:
        driver.apply_node(stranger)
    assert err.value.code == "name_conflict"


def test_a_repair_keeps_a_stopped_node_stopped(driver, admin):
    """Finding 6: ``repair_node`` keeps the replica count the driver last set."""
    (spec,) = network(driver, 1)
    ns = f"baas-{spec.network_id}"
    driver.stop_node(network_id=spec.network_id, node_id=spec.node_id)
    admin.delete("Service", "node0", ns)  # drift while stopped
    assert driver.drift(network_id=spec.network_id)
    driver.repair_node(spec)
    assert admin.get("Service", "node0", ns) is not None
    assert admin.get("StatefulSet", "node0", ns)["spec"]["replicas"] == 0
    assert driver.drift(network_id=spec.network_id) == []
    driver.apply_node(spec)  # a start (recovery) still starts it
    assert admin.get("StatefulSet", "node0", ns)["spec"]["replicas"] == 1


def test_an_interrupted_delete_node_never_leaves_the_keys(driver, admin, monkeypatch):
    """Finding 8: the keys Secret goes first, so a delete that breaks off after its first
    call leaves no private key behind."""
    specs = network(driver, 2)
    net, ns = specs[0].network_id, f"baas-{specs[0].network_id}"
    real, deleted = driver.api.delete, []

    def delete_once(kind, name, namespace=None):
        if deleted:
            raise DriverError("driver_unavailable", "the API server went away")
        deleted.append((kind, name))
        return real(kind, name, namespace)

    monkeypatch.setattr(driver.api, "delete", delete_once)
    with pytest.raises(DriverError):
        driver.delete_node(network_id=net, node_id=specs[1].node_id)
    assert deleted == [("Secret", "node1-keys")]
    assert admin.get("Secret", "node1-keys", ns) is None
    assert admin.get("StatefulSet", "node1", ns) is not None  # the rest is still there
    monkeypatch.undo()
    # Finding 7: what is left is known by its labels and deleted, not re-applied
    assert driver.node_ids(network_id=net) == {specs[0].node_id, specs[1].node_id}
    driver.delete_node(network_id=net, node_id=specs[1].node_id)
    assert all(v is None for v in objects(admin, specs[1]).values())
    assert driver.node_ids(network_id=net) == {specs[0].node_id}
    assert driver.drift(network_id=net) == []


def test_leftovers_of_a_statefulset_deleted_first_are_found_and_removed(driver, admin):
    """Finding 7's case: the StatefulSet went, its Service and ConfigMap stayed; 'StatefulSet
    node1 missing' is drift a re-apply of the database's nodes can never repair."""
    specs = network(driver, 2)
    net, ns = specs[0].network_id, f"baas-{specs[0].network_id}"
    admin.delete("StatefulSet", "node1", ns)
    assert any("node1" in item for item in driver.drift(network_id=net))
    assert specs[1].node_id in driver.node_ids(network_id=net)
    driver.delete_node(network_id=net, node_id=specs[1].node_id)
    assert all(v is None for v in objects(admin, specs[1]).values())
    assert driver.drift(network_id=net) == []
    assert admin.get("StatefulSet", "node0", ns) is not None


def test_inline_credentials_leave_no_file_behind(kube_env, tmp_path, monkeypatch):
    """Finding 13 (driver side): a dict kubeconfig's inline CA (and client key) is not kept
    in temporary files once the client is built, and the client still verifies the server."""
    import tempfile
    from pathlib import Path

    import yaml

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    config = yaml.safe_load(Path(kube_env.kubeconfig).read_text())
    cluster = config["clusters"][0]["cluster"]
    ca = Path(cluster.pop("certificate-authority")).read_bytes()
    cluster["certificate-authority-data"] = base64.b64encode(ca).decode()
    drv = KubernetesDriver(kubeconfig=config, install_id="temp-files")
    assert drv.version().startswith("v1.")
    assert list(tmp_path.iterdir()) == []
    # a wrong CA still fails verification: the data was used, not dropped
    cluster["certificate-authority-data"] = base64.b64encode(
        Path(__file__).read_bytes()[:0] + _other_ca()).decode()
    with pytest.raises(DriverError):
        KubernetesDriver(kubeconfig=config, install_id="temp-files", timeout=5).version()
    assert list(tmp_path.iterdir()) == []


def _other_ca() -> bytes:
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "not-the-cluster")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM)
