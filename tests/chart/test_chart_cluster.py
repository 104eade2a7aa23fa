"""The Helm chart against a real kube-apiserver (scripts/kube-test-env.sh: etcd + API server +
namespace and garbage-collector controllers, no kubelet, no Deployment or Job controller).

What this proves: the API server accepts every rendered object (server-side dry run: schema,
defaulting, validation, admission); `helm install` creates the release's objects and
`helm uninstall` removes them; the migration hook runs before everything else and the install
waits on it; the ClusterRole grants the chart's ServiceAccount what the driver needs and
nothing more, checked by the API server's own authorizer and by acting with the account's
token; every pod template passes Pod Security admission at the restricted level. What it
cannot prove here: that pods start, probes pass and the migration Job completes, since
nothing schedules or runs pods (see docs/chart.md).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.chart.render import CHART, VALUES_ALL, find, helm, helm_binary, render

pytestmark = pytest.mark.kubernetes

FIELD_MANAGER = "baas-chart-test"


@pytest.fixture(scope="module")
def api(kube_env):
    from conftest import require_service

    require_service("helm", helm_binary() is not None,
                    "run scripts/install-helm.sh (or set HELM to a helm binary)")
    from kubernetes import config

    return config.new_client_from_config(config_file=kube_env.kubeconfig)


@pytest.fixture
def namespace(api) -> Iterator[str]:
    """A namespace of this test's own, deleted afterwards (with whatever is left in it)."""
    from kubernetes import client

    name = f"chart-test-{uuid.uuid4().hex[:10]}"
    core = client.CoreV1Api(api)
    core.create_namespace({"metadata": {"name": name}})
    yield name
    core.delete_namespace(name)


def _dynamic(api):
    from kubernetes.dynamic import DynamicClient

    return DynamicClient(api)


def _exists(dyn, api_version: str, kind: str, name: str, namespace: str | None) -> bool:
    from kubernetes.dynamic.exceptions import NotFoundError

    resource = dyn.resources.get(api_version=api_version, kind=kind)
    try:
        resource.get(name=name, namespace=namespace if resource.namespaced else None)
    except NotFoundError:
        return False
    return True


@pytest.mark.parametrize("values", ["default", "all-options"])
def test_api_server_accepts_every_rendered_object(api, namespace, values):
    dyn = _dynamic(api)
    release = f"dry-{uuid.uuid4().hex[:8]}"
    files = [VALUES_ALL] if values == "all-options" else []
    if values == "all-options":
        # values-all.yaml fixes the object names; a unique prefix keeps cluster-scoped names
        # (ClusterRole, ClusterRoleBinding) apart from other runs.
        objects = render(values_files=files, values={"fullnameOverride": release},
                         release=release, namespace=namespace)
    else:
        objects = render(release=release, namespace=namespace)
    assert len(objects) >= 9
    for obj in objects:
        resource = dyn.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
        ns = namespace if resource.namespaced else None
        # Server-side apply, dry run: validated, defaulted and admitted, nothing stored.
        applied = resource.server_side_apply(
            body=obj, name=obj["metadata"]["name"], namespace=ns,
            field_manager=FIELD_MANAGER, dry_run="All")
        assert applied.metadata.name == obj["metadata"]["name"]
        assert applied.kind == obj["kind"]
        if obj["kind"] == "Deployment":
            # The server defaulted the pod template: it parsed it as a real Deployment.
            container = applied.spec.template.spec.containers[0]
            assert container.terminationMessagePath == "/dev/termination-log"
        assert not _exists(dyn, obj["apiVersion"], obj["kind"], obj["metadata"]["name"], ns)


def test_the_api_server_refuses_an_invalid_object(api, namespace):
    # The dry run above can fail: the same Deployment with a bad port name is refused (422).
    from kubernetes.dynamic.exceptions import UnprocessibleEntityError

    dyn = _dynamic(api)
    (web,) = [o for o in render(namespace=namespace) if o["kind"] == "Deployment"
              and o["metadata"]["name"].endswith("-web")]
    web["spec"]["template"]["spec"]["containers"][0]["ports"][0]["name"] = "Not_A_Port_Name"
    resource = dyn.resources.get(api_version="apps/v1", kind="Deployment")
    with pytest.raises(UnprocessibleEntityError):
        resource.server_side_apply(body=web, name=web["metadata"]["name"], namespace=namespace,
                                   field_manager=FIELD_MANAGER, dry_run="All")


def _helm_k(kube_env, *args: str, timeout: float = 180, check: bool = True):
    return helm(*args, "--kubeconfig", kube_env.kubeconfig, timeout=timeout, check=check)


def _release_objects(api, namespace: str, release: str) -> dict[str, list[str]]:
    """Names of the release's objects by kind, found through the API, not through Helm."""
    from kubernetes import client

    selector = f"app.kubernetes.io/instance={release}"
    apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
    rbac, policy = client.RbacAuthorizationV1Api(api), client.PolicyV1Api(api)
    batch = client.BatchV1Api(api)
    admission = client.AdmissionregistrationV1Api(api)
    names = {
        "Deployment": apps.list_namespaced_deployment(namespace, label_selector=selector),
        "Service": core.list_namespaced_service(namespace, label_selector=selector),
        "ServiceAccount": core.list_namespaced_service_account(namespace,
                                                                label_selector=selector),
        "PodDisruptionBudget": policy.list_namespaced_pod_disruption_budget(
            namespace, label_selector=selector),
        "Job": batch.list_namespaced_job(namespace, label_selector=selector),
        "ClusterRole": rbac.list_cluster_role(label_selector=selector),
        "ClusterRoleBinding": rbac.list_cluster_role_binding(label_selector=selector),
        "NetworkPolicy": client.NetworkingV1Api(api).list_namespaced_network_policy(
            namespace, label_selector=selector),
        "ValidatingAdmissionPolicy": admission.list_validating_admission_policy(
            label_selector=selector),
        "ValidatingAdmissionPolicyBinding": admission.list_validating_admission_policy_binding(
            label_selector=selector),
    }
    return {kind: sorted(o.metadata.name for o in found.items) for kind, found in names.items()}


def test_helm_install_upgrade_and_uninstall(api, kube_env, namespace):
    """Hooks are skipped (--no-hooks): the migration Job would never complete without a
    kubelet and a Job controller. test_install_waits_for_the_migration_hook covers it."""
    from kubernetes import client

    release = f"inst-{uuid.uuid4().hex[:8]}"
    prefix = f"{release}-baas"
    _helm_k(kube_env, "install", release, str(CHART), "--namespace", namespace, "--no-hooks")
    try:
        assert _release_objects(api, namespace, release) == {
            "Deployment": [f"{prefix}-beat", f"{prefix}-web", f"{prefix}-worker"],
            "Service": [f"{prefix}-web"],
            "ServiceAccount": [prefix, f"{prefix}-web"],
            "PodDisruptionBudget": [f"{prefix}-web"],
            "Job": [],
            "ClusterRole": [f"{prefix}-driver", f"{prefix}-web-read"],
            "ClusterRoleBinding": [f"{prefix}-driver", f"{prefix}-web-read"],
            "NetworkPolicy": [f"{prefix}-web"],
            "ValidatingAdmissionPolicy": [f"{prefix}-driver-scope"],
            "ValidatingAdmissionPolicyBinding": [f"{prefix}-driver-scope"],
        }
        apps = client.AppsV1Api(api)
        assert apps.read_namespaced_deployment(f"{prefix}-web", namespace).spec.replicas == 2
        # An upgrade changes what the values change, through server-side apply.
        _helm_k(kube_env, "upgrade", release, str(CHART), "--namespace", namespace,
                "--no-hooks", "--set", "web.replicas=4", "--set", "web.pdb.enabled=false")
        assert apps.read_namespaced_deployment(f"{prefix}-web", namespace).spec.replicas == 4
        assert _release_objects(api, namespace, release)["PodDisruptionBudget"] == []
    finally:
        _helm_k(kube_env, "uninstall", release, "--namespace", namespace, "--wait")
    assert _release_objects(api, namespace, release) == {
        kind: [] for kind in ("Deployment", "Service", "ServiceAccount", "PodDisruptionBudget",
                              "Job", "ClusterRole", "ClusterRoleBinding", "NetworkPolicy",
                              "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding")}


def test_install_waits_for_the_migration_hook(api, kube_env, namespace):
    """With hooks, the migration Job is created first and the install waits for it; without
    a kubelet it never completes, so the install times out before any Deployment exists,
    which is the behaviour that matters: no new code runs on an unmigrated database."""
    release = f"hook-{uuid.uuid4().hex[:8]}"
    done = _helm_k(kube_env, "install", release, str(CHART), "--namespace", namespace,
                   "--timeout", "15s", check=False)
    try:
        assert done.returncode != 0
        assert "pre-install" in (done.stderr + done.stdout)
        objects = _release_objects(api, namespace, release)
        assert objects["Job"] == [f"{release}-baas-migrate"]
        assert objects["Deployment"] == [] and objects["ClusterRole"] == []
    finally:
        _helm_k(kube_env, "uninstall", release, "--namespace", namespace, "--no-hooks",
                check=False)


def _can(api, user: str, groups: list[str], verb: str, resource: str, *, group: str = "",
         namespace: str | None = None, subresource: str | None = None) -> bool:
    from kubernetes import client

    review = client.AuthorizationV1Api(api).create_subject_access_review({
        "spec": {"user": user, "groups": groups, "resourceAttributes": {
            "verb": verb, "group": group, "resource": resource, "namespace": namespace,
            "subresource": subresource}}})
    return review.status.allowed


def test_the_service_account_holds_the_driver_rights_and_no_more(api, kube_env, namespace):
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    release = f"rbac-{uuid.uuid4().hex[:8]}"
    sa = f"{release}-baas"
    _helm_k(kube_env, "install", release, str(CHART), "--namespace", namespace, "--no-hooks")
    try:
        user = f"system:serviceaccount:{namespace}:{sa}"
        groups = ["system:serviceaccounts", f"system:serviceaccounts:{namespace}",
                  "system:authenticated"]
        network_ns = f"baas-{uuid.uuid4()}"  # any namespace: the rights are cluster-wide
        allowed = [
            ("create", "namespaces", "", None, None), ("delete", "namespaces", "", None, None),
            ("create", "statefulsets", "apps", network_ns, None),
            ("patch", "services", "", network_ns, None),
            ("create", "configmaps", "", network_ns, None),
            ("create", "secrets", "", network_ns, None),
            ("delete", "persistentvolumeclaims", "", network_ns, None),
            ("create", "networkpolicies", "networking.k8s.io", network_ns, None),
            ("create", "poddisruptionbudgets", "policy", network_ns, None),
            ("get", "pods", "", network_ns, None), ("get", "pods", "", network_ns, "log"),
            ("create", "selfsubjectaccessreviews", "authorization.k8s.io", None, None),
        ]
        refused = [
            ("create", "pods", "", network_ns, None), ("delete", "pods", "", network_ns, None),
            ("create", "pods", "", network_ns, "exec"),
            ("create", "deployments", "apps", network_ns, None),
            ("create", "clusterroles", "rbac.authorization.k8s.io", None, None),
            ("create", "rolebindings", "rbac.authorization.k8s.io", network_ns, None),
            ("get", "nodes", "", None, None),
            ("create", "serviceaccounts", "", network_ns, None),
            ("impersonate", "users", "", None, None),
            ("list", "secrets", "", None, None), ("watch", "namespaces", "", None, None),
            ("list", "pods", "", network_ns, None),
            ("update", "statefulsets", "apps", network_ns, None),
        ]
        for verb, resource, group, ns, sub in allowed:
            assert _can(api, user, groups, verb, resource, group=group, namespace=ns,
                        subresource=sub), (verb, resource, sub)
        for verb, resource, group, ns, sub in refused:
            assert not _can(api, user, groups, verb, resource, group=group, namespace=ns,
                            subresource=sub), (verb, resource, sub)

        # And for real, with the account's own token: what a network needs works, the rest
        # is refused with 403.
        token = client.CoreV1Api(api).create_namespaced_service_account_token(
            sa, namespace, {"spec": {"expirationSeconds": 600}}).status.token
        as_sa = client.ApiClient(_token_configuration(kube_env.kubeconfig, token))
        whoami = client.AuthenticationV1Api(as_sa).create_self_subject_review({})
        assert whoami.status.user_info.username == user
        core = client.CoreV1Api(as_sa)
        # labelled as this install's network: the admission policy refuses any other
        core.create_namespace({"metadata": {"name": network_ns, "labels": {
            "app.kubernetes.io/managed-by": "baas", "baas.io/install": release,
            "pod-security.kubernetes.io/enforce": "restricted"}}})
        try:
            core.create_namespaced_config_map(network_ns, {"metadata": {"name": "node0-home"}})
            with pytest.raises(ApiException) as refused_err:
                client.AppsV1Api(as_sa).create_namespaced_deployment(network_ns, find(
                    render(namespace=network_ns), "Deployment")[0])
            assert refused_err.value.status == 403
        finally:
            core.delete_namespace(network_ns)
    finally:
        _helm_k(kube_env, "uninstall", release, "--namespace", namespace, "--wait")


def _token_configuration(kubeconfig: str, token: str):
    """The admin kubeconfig's server and CA (TLS verified), authenticated by ``token``."""
    from kubernetes import client, config

    configuration = client.Configuration()
    config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
    # The loader leaves the admin's token in "BearerToken" and a hook that refreshes it before
    # each call; both go, or every request would silently run as the admin.
    configuration.api_key = {"BearerToken": f"Bearer {token}"}
    configuration.api_key_prefix = {}
    configuration.refresh_api_key_hook = None
    configuration.cert_file = configuration.key_file = None
    return configuration


def test_every_pod_meets_pod_security_restricted(api):
    """The API server's Pod Security admission, at the strictest level, admits a pod made
    from each of the chart's pod templates (no kubelet needed: admission runs on create);
    a template without runAsNonRoot is refused, so the check can fail."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    core = client.CoreV1Api(api)
    name = f"chart-psa-{uuid.uuid4().hex[:10]}"
    core.create_namespace({"metadata": {"name": name, "labels": {
        "pod-security.kubernetes.io/enforce": "restricted",
        "pod-security.kubernetes.io/enforce-version": "latest"}}})
    try:
        objects = render(namespace=name)
        templates = [(o["metadata"]["name"], o["spec"]["template"]["spec"])
                     for o in objects if o["kind"] in {"Deployment", "Job"}]
        assert len(templates) == 4
        for owner, spec in templates:
            pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"{owner}-probe"},
                   "spec": spec}
            core.create_namespaced_pod(name, pod, dry_run="All")
        owner, spec = templates[0]
        loose = {**spec, "securityContext": {k: v for k, v in spec["securityContext"].items()
                                             if k != "runAsNonRoot"}}
        with pytest.raises(ApiException) as refused:
            core.create_namespaced_pod(name, {"apiVersion": "v1", "kind": "Pod",
                                              "metadata": {"name": "loose"}, "spec": loose},
                                       dry_run="All")
        assert refused.value.status == 403 and "runAsNonRoot" in refused.value.body
    finally:
        core.delete_namespace(name)
