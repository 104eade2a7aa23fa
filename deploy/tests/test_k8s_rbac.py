"""The chart's two Kubernetes identities against a real kube-apiserver (kube-test-env).

A release of deploy/chart is installed (hooks skipped) in a namespace of this module's own,
with a unique release name and install id, so its ClusterRoles, bindings and
ValidatingAdmissionPolicy apply to its own ServiceAccounts only and never to the shared
``baas-driver`` user other tests bind rules to. The tests then act with those accounts'
tokens:

- the worker's (exactly ``RBAC_RULES``, confined by the admission policy): writes outside
  this install's labelled namespaces are refused (a ConfigMap in an unlabelled namespace or
  in another install's, a StatefulSet naming a ServiceAccount or mounting its token,
  deleting or relabelling an unlabelled namespace), while the driver's whole lifecycle in
  its own namespaces is admitted;
- the web pods' (exactly ``RBAC_READ_RULES``): ``KubernetesDriver.logs()`` works, every
  write and every Secret read is refused.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import yaml

from deploy.drivers import DriverError
from deploy.drivers import k8s_manifests as m
from deploy.drivers.k8s_rbac import RBAC_READ_RULES, RBAC_RULES
from deploy.drivers.kubernetes import KubernetesDriver
from deploy.tests.test_drivers_kubernetes import V2, _cleanup, make_spec, network

pytestmark = pytest.mark.kubernetes

POLICY_DENIED = "ValidatingAdmissionPolicy"


@dataclass(frozen=True)
class Release:
    namespace: str
    name: str
    install_id: str
    worker: KubernetesDriver  # acting as the worker's ServiceAccount
    web: KubernetesDriver  # acting as the web pods' ServiceAccount


def _kubeconfig_for(admin_kubeconfig: str, token: str) -> dict[str, Any]:
    """The admin kubeconfig's server and CA (TLS verified), authenticated by ``token``."""
    with open(admin_kubeconfig) as fh:
        admin = yaml.safe_load(fh)
    context = next(c["context"] for c in admin["contexts"]
                   if c["name"] == admin["current-context"])
    cluster = next(c["cluster"] for c in admin["clusters"] if c["name"] == context["cluster"])
    return {"apiVersion": "v1", "kind": "Config",
            "clusters": [{"name": "test", "cluster": cluster}],
            "users": [{"name": "sa", "user": {"token": token}}],
            "contexts": [{"name": "sa", "context": {"cluster": "test", "user": "sa"}}],
            "current-context": "sa"}


def _wait_until(check, what: str, timeout: float = 30) -> None:
    """RBAC bindings and admission policies take effect within moments of their creation."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} not in effect after {timeout:g}s")
        time.sleep(0.5)


def _refused_by_policy(call) -> DriverError:
    with pytest.raises(DriverError) as err:
        call()
    assert err.value.code == "cluster_forbidden", err.value.message
    assert POLICY_DENIED in err.value.message, err.value.message
    return err.value


@pytest.fixture(scope="module")
def release(kube_env) -> Iterator[Release]:
    from kubernetes import client, config

    from conftest import require_service
    from tests.chart.render import CHART, helm, helm_binary

    require_service("helm", helm_binary() is not None,
                    "run scripts/install-helm.sh (or set HELM to a helm binary)")
    api = config.new_client_from_config(config_file=kube_env.kubeconfig)
    core = client.CoreV1Api(api)
    suffix = uuid.uuid4().hex[:8]
    namespace, name, install_id = f"rbac-test-{suffix}", f"rb{suffix}", f"test-rb-{suffix}"
    core.create_namespace({"metadata": {"name": namespace}})
    helm("install", name, str(CHART), "--namespace", namespace, "--no-hooks",
         "--set", f"installId={install_id}", "--kubeconfig", kube_env.kubeconfig)
    admin = KubernetesDriver(kubeconfig=kube_env.kubeconfig, install_id="admin-view").api
    try:
        def as_account(account: str) -> KubernetesDriver:
            token = core.create_namespaced_service_account_token(
                account, namespace, {"spec": {"expirationSeconds": 3600}}).status.token
            return KubernetesDriver(kubeconfig=_kubeconfig_for(kube_env.kubeconfig, token),
                                    install_id=install_id, timeout=15, ready_timeout=120,
                                    storage_gb=2)

        worker, web = as_account(f"{name}-baas"), as_account(f"{name}-baas-web")
        probe = {"apiVersion": "v1", "kind": "ConfigMap",
                 "metadata": {"name": "policy-probe", "namespace": namespace}}

        def policy_active() -> bool:
            try:
                worker.api.apply(probe, dry_run=True)
            except DriverError as exc:
                return POLICY_DENIED in exc.message
            return False

        _wait_until(policy_active, "the admission policy")
        _wait_until(lambda: _allowed(worker, "create", "namespaces")
                    and _allowed(web, "get", "pods", sub="log"), "the role bindings")
        yield Release(namespace, name, install_id, worker, web)
    finally:
        helm("uninstall", name, "--namespace", namespace, "--wait",
             "--kubeconfig", kube_env.kubeconfig, check=False)
        _cleanup(admin, install_id)
        core.delete_namespace(namespace)


def _allowed(drv: KubernetesDriver, verb: str, resource: str, *, group: str = "",
             sub: str = "") -> bool:
    review = drv.api.request(
        "POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
        content_type="application/json", action="review",
        body={"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
              "spec": {"resourceAttributes": {"verb": verb, "resource": resource,
                                              "group": group, "subresource": sub}}})
    return bool(review["status"].get("allowed"))


def _rights(drv: KubernetesDriver) -> dict[tuple[str, str], set[str]]:
    """What the account may do cluster-wide, by (group, resource): the API server's own
    answer for every verb the two rule lists mention, on every resource they mention."""
    pairs = {(g, r) for rule in RBAC_RULES + RBAC_READ_RULES
             for g in rule["apiGroups"] for r in rule["resources"]}
    verbs = {v for rule in RBAC_RULES for v in rule["verbs"]} | {"update", "watch"}
    rights: dict[tuple[str, str], set[str]] = {}
    for group, resource in sorted(pairs):
        plural, _, sub = resource.partition("/")
        allowed = {v for v in verbs if _allowed(drv, v, plural, group=group, sub=sub)}
        if allowed:
            rights[(group, resource)] = allowed
    return rights


def _as_rights(rules: list[dict[str, Any]]) -> dict[tuple[str, str], set[str]]:
    return {(g, r): set(rule["verbs"]) for rule in rules
            for g in rule["apiGroups"] for r in rule["resources"]}


def _configmap(namespace: str, name: str = "outside") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": namespace}, "data": {"a": "b"}}


def _statefulset(namespace: str, **pod_spec: Any) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": "intruder", "namespace": namespace},
            "spec": {"serviceName": "intruder", "replicas": 0,
                     "selector": {"matchLabels": {"a": "intruder"}},
                     "template": {"metadata": {"labels": {"a": "intruder"}}, "spec": {
                         **pod_spec, "containers": [{"name": "x", "image": "busybox"}]}}}}


# --- the worker: the driver's rights, confined by the admission policy ----------------------


def test_the_worker_holds_exactly_rbac_rules(release):
    assert _rights(release.worker) == _as_rights(RBAC_RULES)


def test_the_worker_cannot_write_outside_this_installs_networks(release, kube_env):
    drv, admin = release.worker, KubernetesDriver(kubeconfig=kube_env.kubeconfig).api
    suffix = uuid.uuid4().hex[:8]
    plain, other = f"plain-{suffix}", f"baas-other-{suffix}"
    admin.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": plain}})
    admin.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": other, "labels": {
        m.MANAGED_BY: "baas", m.L_INSTALL: "another-install",
        "pod-security.kubernetes.io/enforce": "restricted"}}})
    try:
        # a ConfigMap in a namespace of the platform, in an unlabelled one, in another
        # install's network
        for ns in ("kube-system", plain, other):
            _refused_by_policy(lambda ns=ns: drv.api.apply(_configmap(ns)))
            assert admin.get("ConfigMap", "outside", ns) is None
        # changing (server-side apply of an existing object) or deleting what is there
        admin.apply(_configmap(plain, "existing"))
        changed = {**_configmap(plain, "existing"), "data": {"a": "changed"}}
        _refused_by_policy(lambda: drv.api.apply(changed))
        _refused_by_policy(lambda: drv.api.delete("ConfigMap", "existing", plain))
        assert admin.get("ConfigMap", "existing", plain)["data"] == {"a": "b"}
        # deleting, relabelling or making namespaces that are not this install's networks
        _refused_by_policy(lambda: drv.api.delete("Namespace", plain))
        assert admin.get("Namespace", plain) is not None
        _refused_by_policy(lambda: drv.api.merge_patch("Namespace", plain, None, {
            "metadata": {"labels": {m.MANAGED_BY: "baas", m.L_INSTALL: release.install_id,
                                    "pod-security.kubernetes.io/enforce": "restricted"}}}))
        _refused_by_policy(lambda: drv.api.apply({"apiVersion": "v1", "kind": "Namespace",
                                                  "metadata": {"name": f"free-{suffix}"}}))
        _refused_by_policy(lambda: drv.api.delete("Namespace", other))
        # this install's labels without Pod Security "restricted" are not enough either
        _refused_by_policy(lambda: drv.api.apply({
            "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": f"baas-{suffix}",
                                                                  "labels": {
                m.MANAGED_BY: "baas", m.L_INSTALL: release.install_id}}}))

        # in a network namespace of its own: no StatefulSet naming a ServiceAccount or
        # mounting its token
        net = str(uuid.uuid4())
        drv.prepare_network(install_id=release.install_id, tenant_id="t1", network_id=net)
        ns = f"baas-{net}"
        drv.api.apply(_configmap(ns, "allowed"))  # the namespace is the driver's to use
        for pod_spec in ({"serviceAccountName": "default", "automountServiceAccountToken": False},
                         {"serviceAccount": "default", "automountServiceAccountToken": False},
                         {},  # the token is mounted by default
                         {"automountServiceAccountToken": True}):
            err = _refused_by_policy(lambda p=pod_spec: drv.api.apply(_statefulset(ns, **p)))
            assert "automountServiceAccountToken" in err.message
            assert admin.get("StatefulSet", "intruder", ns) is None
        drv.api.apply(_statefulset(ns, automountServiceAccountToken=False))
        # and it cannot take its namespace's labels off
        _refused_by_policy(lambda: drv.api.merge_patch("Namespace", ns, None, {
            "metadata": {"labels": {m.L_INSTALL: "another-install"}}}))
    finally:
        for name in (plain, other):
            admin.delete("Namespace", name)


def test_reads_are_not_admission_controlled(release, kube_env):
    """The limit docs/kubernetes.md states: RBAC_RULES hold ``get`` on Secrets cluster-wide
    (the driver reads its nodes' key Secrets by name), and admission policies never see
    reads, so the worker's token can read a Secret it can name in any namespace."""
    admin = KubernetesDriver(kubeconfig=kube_env.kubeconfig).api
    name = f"readable-{uuid.uuid4().hex[:8]}"
    admin.apply({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                 "metadata": {"name": name, "namespace": release.namespace},
                 "stringData": {"k": "v"}})
    try:
        assert release.worker.api.get("Secret", name, release.namespace) is not None
        with pytest.raises(DriverError) as err:  # but never by enumerating them
            release.worker.api.list("Secret", release.namespace)
        assert err.value.code == "cluster_forbidden"
        with pytest.raises(DriverError) as err:  # and the web pods not at all
            release.web.api.get("Secret", name, release.namespace)
        assert err.value.code == "cluster_forbidden"
    finally:
        admin.delete("Secret", name, release.namespace)


def test_the_drivers_lifecycle_in_its_own_namespaces_is_admitted(release, kube_env):
    drv = release.worker
    admin = KubernetesDriver(kubeconfig=kube_env.kubeconfig).api
    drv.check()
    specs = network(drv, 2)
    net = specs[0].network_id
    ids = {"network_id": net, "node_id": specs[0].node_id}
    assert drv.inspect_node(**ids).running
    drv.stop_node(**ids)
    drv.start_node(**ids)
    drv.stop_node(**ids)
    drv.apply_node(dataclasses.replace(specs[0], ledger_version=V2))
    assert "no logs" in drv.logs(**ids)
    assert drv.drift(network_id=net) == []
    # drift repair: an operator's edit is put back by applying again
    admin.merge_patch("StatefulSet", "node1", f"baas-{net}", {"spec": {"replicas": 3}})
    assert drv.drift(network_id=net)
    drv.apply_node(specs[1])
    assert drv.drift(network_id=net) == []
    owned = [o for o in drv.list_owned(install_id=release.install_id) if o.network_id == net]
    assert len(owned) == 7  # namespace, and per node a StatefulSet, Service and ConfigMap
    drv.delete_node(**ids)
    assert admin.get("Secret", "node0-keys", f"baas-{net}") is None
    drv.delete_network(network_id=net)
    assert admin.get("Namespace", f"baas-{net}") is None


# --- the web pods: node logs only -------------------------------------------------------------


def test_the_web_pods_hold_exactly_rbac_read_rules(release):
    # every authenticated user may review its own rights (the built-in system:basic-user)
    everybody = {("authorization.k8s.io", "selfsubjectaccessreviews"): {"create"}}
    assert _rights(release.web) == _as_rights(RBAC_READ_RULES) | everybody


def test_the_web_pods_read_node_logs_and_write_nothing(release, kube_env):
    admin = KubernetesDriver(kubeconfig=kube_env.kubeconfig, install_id=release.install_id)
    spec = make_spec(admin, str(uuid.uuid4()), 0)
    admin.apply_node(spec)
    ns = f"baas-{spec.network_id}"
    ids = {"network_id": spec.network_id, "node_id": spec.node_id}
    web = release.web
    # no pod yet: logs() lists the StatefulSet and reads the pod
    assert web.logs(**ids).startswith("[baas] no logs: pod node0-0 not created yet")
    # a running pod, as a kubelet would report it: logs() asks the API server for its log,
    # which asks the pod's kubelet (there is none here): authorised, then "no logs"
    template = admin.api.get("StatefulSet", "node0", ns)["spec"]["template"]
    admin.api.apply({"apiVersion": "v1", "kind": "Pod",
                     "metadata": {"name": "node0-0", "namespace": ns,
                                  "labels": template["metadata"]["labels"]},
                     "spec": {**template["spec"], "nodeName": "worker-1", "volumes": [
                         *template["spec"]["volumes"],
                         {"name": "data",
                          "persistentVolumeClaim": {"claimName": "data-node0-0"}}]}})
    admin.api.request("PATCH", f"/api/v1/namespaces/{ns}/pods/node0-0/status",
                      body={"status": {"phase": "Running", "containerStatuses": [
                          {"name": "node", "image": "i", "imageID": "", "ready": True,
                           "restartCount": 0, "state": {"running": {}}}]}},
                      content_type="application/merge-patch+json", action="play the kubelet")
    # (logs() turns only 404 and 400 into "no logs": a 403 would raise cluster_forbidden)
    # The answer names the missing node: the log request itself was authorised.
    out = web.logs(**ids)
    assert out.startswith("[baas] no logs: read the logs of pod node0-0:"), out
    assert '"worker-1" not found' in out, out
    for write in (lambda: web.api.apply(_configmap(ns)),
                  lambda: web.api.delete("StatefulSet", "node0", ns),
                  lambda: web.stop_node(**ids),
                  lambda: web.delete_network(network_id=spec.network_id)):
        with pytest.raises(DriverError) as err:
            write()
        assert err.value.code == "cluster_forbidden", err.value.message
    with pytest.raises(DriverError) as err:
        web.api.get("Secret", "node0-keys", ns)
    assert err.value.code == "cluster_forbidden"
    assert admin.api.get("StatefulSet", "node0", ns)["spec"]["replicas"] == 1
