"""The Helm chart (deploy/chart) on paper: lint, render, OpenAPI validation, no secret in env.

Every manifest the chart renders, with the default values and with a values file that turns
every option on (values-all.yaml), must validate against the OpenAPI schemas of each
supported Kubernetes version (kubernetes-validate, offline, strict: unknown fields fail).
What the real API server makes of them is in test_chart_cluster.py.
"""

from __future__ import annotations

import base64
import re
from typing import Any

import kubernetes_validate
import pytest

from conftest import require_service
from tests.chart.render import (
    CHART,
    KUBE_VERSIONS,
    VALUES_ALL,
    HelmError,
    cluster_role_rules,
    containers,
    find,
    helm,
    helm_binary,
    normalised_rules,
    pod_specs,
    render,
)

SECRETS_DIR = "/run/secrets/baas"
VALUE_SETS = {"default": {}, "all-options": {"values_files": [VALUES_ALL]}}


@pytest.fixture(scope="module", autouse=True)
def _helm() -> None:
    require_service("helm", helm_binary() is not None,
                    "run scripts/install-helm.sh (or set HELM to a helm binary)")


@pytest.fixture(scope="module")
def default() -> list[dict]:
    return render()


@pytest.fixture(scope="module")
def everything() -> list[dict]:
    return render(values_files=[VALUES_ALL], namespace="baas-system")


def _env(container: dict) -> dict[str, str]:
    return {e["name"]: e.get("value") for e in container.get("env", [])}


# --- lint and render -------------------------------------------------------------------------


@pytest.mark.parametrize("values", VALUE_SETS)
def test_helm_lint_is_clean(values):
    args = ["lint", "--strict", str(CHART)]
    if values == "all-options":
        args += ["--values", str(VALUES_ALL)]
    done = helm(*args, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 chart(s) failed" in done.stdout


def test_default_values_render_the_control_plane(default):
    kinds = sorted((o["kind"], o["metadata"]["name"]) for o in default)
    assert kinds == [
        ("ClusterRole", "baas-driver"), ("ClusterRole", "baas-web-read"),
        ("ClusterRoleBinding", "baas-driver"), ("ClusterRoleBinding", "baas-web-read"),
        ("Deployment", "baas-beat"), ("Deployment", "baas-web"), ("Deployment", "baas-worker"),
        ("Job", "baas-migrate"), ("NetworkPolicy", "baas-web"),
        ("PodDisruptionBudget", "baas-web"), ("Service", "baas-web"),
        ("ServiceAccount", "baas"), ("ServiceAccount", "baas-web"),
        ("ValidatingAdmissionPolicy", "baas-driver-scope"),
        ("ValidatingAdmissionPolicyBinding", "baas-driver-scope"),
    ]
    # The chart references the operator's Secrets; it never carries one, nor a ConfigMap.
    assert not find(default, "Secret") and not find(default, "ConfigMap")


def test_every_option_renders_its_objects(everything):
    (ingress,) = find(everything, "Ingress")
    assert [r["host"] for r in ingress["spec"]["rules"]] == ["portal.example.com",
                                                             "api.example.com"]
    assert ingress["spec"]["tls"] == [{"secretName": "baas-tls",
                                       "hosts": ["portal.example.com", "api.example.com"]}]
    assert ingress["spec"]["ingressClassName"] == "nginx"
    (service,) = find(everything, "Service")
    assert service["spec"]["type"] == "LoadBalancer"
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": service["metadata"]["name"], "port": {"name": "http"}}
    (sa,) = find(everything, "ServiceAccount", "baas-control-plane")
    assert sa["metadata"]["annotations"] == {"iam.example.com/role": "baas"}
    (binding,) = find(everything, "ClusterRoleBinding", "baas-all-driver")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "baas-control-plane",
                                    "namespace": "baas-system"}]
    for obj, spec in pod_specs(everything):
        assert spec["priorityClassName"] == "baas-critical", obj["metadata"]["name"]
        assert spec["imagePullSecrets"] == [{"name": "registry-credentials"}]
        assert spec["nodeSelector"] == {"kubernetes.io/os": "linux"}
        assert spec["tolerations"][0]["key"] == "dedicated"
        assert "podAntiAffinity" in spec["affinity"]
        assert containers(spec)[0]["image"] == (
            "registry.example.com/baas/control-plane:0.1.0-test")


@pytest.mark.parametrize("version", ["1.30.0", "1.34.2"])
def test_supported_versions_are_accepted_and_older_ones_refused(version):
    assert render(kube_version=version)
    with pytest.raises(HelmError, match="kubeVersion"):
        render(kube_version="1.29.9")


# --- OpenAPI validation ----------------------------------------------------------------------


@pytest.mark.parametrize("version", KUBE_VERSIONS)
@pytest.mark.parametrize("values", VALUE_SETS)
def test_every_manifest_validates_against_the_openapi_schema(values, version):
    objects = render(**VALUE_SETS[values])
    assert len(objects) >= 15
    for obj in objects:
        # strict: a field the schema does not know (a typo, a field of a newer version)
        # fails instead of being ignored.
        kubernetes_validate.validate(obj, version, strict=True)


def test_the_validator_catches_a_bad_manifest(default):
    # The check above must be able to fail: a misspelt field and a wrong type are refused.
    web = find(default, "Deployment", "baas-web")[0]
    misspelt = {**web, "spec": {**web["spec"], "replica": 2}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(misspelt, "1.34", strict=True)
    wrong_type = {**web, "spec": {**web["spec"], "replicas": "two"}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(wrong_type, "1.34", strict=True)


def test_values_outside_the_schema_are_refused():
    with pytest.raises(HelmError, match="replicaz"):
        render(values={"web.replicaz": 2})
    with pytest.raises(HelmError, match="beat"):
        render(values={"beat.replicas": 2})  # beat is one pod, never configurable
    with pytest.raises(HelmError, match="pullPolicy"):
        render(values={"image.pullPolicy": "Sometimes"})


# --- what the pods run -----------------------------------------------------------------------


def _deployment(objects: list[dict], component: str) -> dict:
    (dep,) = [o for o in find(objects, "Deployment")
              if o["metadata"]["labels"]["app.kubernetes.io/component"] == component]
    return dep


@pytest.mark.parametrize(("component", "role"), [("web", "web"), ("worker", "worker"),
                                                  ("beat", "beat")])
def test_each_deployment_runs_its_role_of_the_image(default, component, role):
    spec = _deployment(default, component)["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    assert container["args"][0] == role  # deploy/images/control-plane/entrypoint.sh
    assert container["image"] == "baas/control-plane:0.1.0"  # appVersion


def test_beat_is_exactly_one_pod_replaced_not_rolled(everything):
    beat = _deployment(everything, "beat")
    assert beat["spec"]["replicas"] == 1
    assert beat["spec"]["strategy"] == {"type": "Recreate"}
    assert beat["spec"]["template"]["spec"]["automountServiceAccountToken"] is False
    assert _deployment(everything, "web")["spec"]["replicas"] == 3
    assert _deployment(everything, "worker")["spec"]["replicas"] == 2


def test_migrations_run_as_a_pre_install_and_pre_upgrade_hook(default):
    (job,) = find(default, "Job")
    annotations = job["metadata"]["annotations"]
    assert annotations["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert set(annotations["helm.sh/hook-delete-policy"].split(",")) == {
        "before-hook-creation", "hook-succeeded"}
    spec = job["spec"]["template"]["spec"]
    assert spec["containers"][0]["args"] == ["migrate"]
    assert spec["restartPolicy"] == "Never"
    # A pre-install hook runs before the release's ServiceAccount exists: it must not need it.
    assert "serviceAccountName" not in spec and spec["automountServiceAccountToken"] is False
    assert not find(render(values={"migrations.enabled": False}), "Job")


def test_web_probes_hit_the_health_endpoints_with_an_allowed_host(everything):
    (web,) = _deployment(everything, "web")["spec"]["template"]["spec"]["containers"]
    assert web["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
    assert web["args"] == ["web", "--bind=0.0.0.0:8080", "--workers=3", "--timeout", "60"]
    assert _env(web)["BAAS_FORWARDED_ALLOW_IPS"] == "10.42.0.0/16"
    paths = {probe: web[probe]["httpGet"]["path"]
             for probe in ("startupProbe", "livenessProbe", "readinessProbe")}
    assert paths == {"startupProbe": "/healthz", "livenessProbe": "/healthz",
                     "readinessProbe": "/readyz"}
    allowed = _env(web)["BAAS_ALLOWED_HOSTS"].split(",")
    for probe in paths:
        assert web[probe]["httpGet"]["port"] == "http"
        (header,) = web[probe]["httpGet"]["httpHeaders"]
        # Production answers 400 to a Host outside BAAS_ALLOWED_HOSTS (a pod IP always is).
        assert header["name"] == "Host" and header["value"] in allowed
    assert {"portal.example.com", "api.example.com", "baas-all-web.baas-system.svc"} <= set(
        allowed)


def test_web_pdb_selects_the_web_pods(default):
    (pdb,) = find(default, "PodDisruptionBudget")
    web = _deployment(default, "web")
    assert pdb["spec"]["selector"] == web["spec"]["selector"]
    assert pdb["spec"]["maxUnavailable"] == 1
    assert not find(render(values={"web.pdb.enabled": False}), "PodDisruptionBudget")


@pytest.mark.parametrize("values", VALUE_SETS)
def test_every_pod_is_unprivileged_with_a_read_only_root(values):
    objects = render(**VALUE_SETS[values])
    for obj, spec in pod_specs(objects):
        name = obj["metadata"]["name"]
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True and pod["runAsUser"] == 10001, name
        # Service links would put BAAS_WEB_PORT=tcp://... (from a Service named baas-web)
        # into the settings' namespace of variables.
        assert spec["enableServiceLinks"] is False, name
        assert pod["seccompProfile"] == {"type": "RuntimeDefault"}, name
        volumes = {v["name"]: v for v in spec["volumes"]}
        for container in containers(spec):
            ctx = container["securityContext"]
            assert ctx["readOnlyRootFilesystem"] is True, name
            assert ctx["allowPrivilegeEscalation"] is False, name
            assert ctx["capabilities"] == {"drop": ["ALL"]}, name
            mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
            # What the processes write goes to emptyDirs: /tmp and the var dir.
            for path in ("/tmp", _env(container)["BAAS_VAR_DIR"]):
                assert "emptyDir" in volumes[mounts[path]], (name, path)
            assert container["resources"]["requests"]["memory"], name
            assert container["resources"]["limits"]["memory"], name


# --- secrets: files, never environment -------------------------------------------------------

SECRET_NAME = re.compile(
    r"PASSWORD|SECRET|TOKEN|CREDENTIAL|(^|_)KEY$|^(DATABASE|REDIS|BAAS_CACHE)_URL$")
URL_WITH_PASSWORD = re.compile(r"[a-z][a-z0-9+.-]*://[^/@\s:]*:[^/@\s]+@", re.IGNORECASE)
FERNET_KEY = re.compile(r"^[A-Za-z0-9_-]{43}=$")
RANDOM_TOKEN = re.compile(r"^(?=.*[A-Z])(?=.*[a-z])(?=.*[0-9])[A-Za-z0-9_+/=-]{32,}$")


def secret_findings(objects: list[dict[str, Any]]) -> list[str]:
    """Every place where a rendered object would put a secret into a pod's environment or a
    ConfigMap: secret-named variables, references to Secret keys from env, URLs carrying a
    password, key material (PEM, Fernet keys, long random tokens)."""
    found = []

    def check_value(where: str, value: str) -> None:
        if URL_WITH_PASSWORD.search(value):
            found.append(f"{where}: URL with a password")
        if "-----BEGIN" in value:
            found.append(f"{where}: PEM key material")
        if FERNET_KEY.match(value) or RANDOM_TOKEN.match(value):
            found.append(f"{where}: looks like a key or token")

    for obj, spec in pod_specs(objects):
        for container in containers(spec):
            where = f"{obj['kind']}/{obj['metadata']['name']}/{container['name']}"
            for source in container.get("envFrom", []):
                if "secretRef" in source:
                    found.append(f"{where}: envFrom a Secret")
            for env in container.get("env", []):
                name = env["name"]
                if SECRET_NAME.search(name) and not name.endswith("_FILE"):
                    found.append(f"{where}: {name} is a secret setting in env")
                if "secretKeyRef" in env.get("valueFrom", {}):
                    found.append(f"{where}: {name} reads a Secret key into env")
                check_value(f"{where}: {name}", str(env.get("value", "")))
    for cm in find(objects, "ConfigMap"):
        for key, value in (cm.get("data") or {}).items():
            check_value(f"ConfigMap/{cm['metadata']['name']}: {key}", str(value))
    return found


@pytest.mark.parametrize("values", VALUE_SETS)
def test_no_secret_ever_in_an_env_var_or_configmap(values):
    objects = render(**VALUE_SETS[values])
    assert secret_findings(objects) == []


def test_the_secret_scan_finds_what_it_looks_for(default):
    # The scan above must be able to fail: each kind of leak, planted in a real render.
    web = find(default, "Deployment", "baas-web")[0]
    leaks = [
        {"name": "DATABASE_URL", "value": "postgres://baas:hunter2@db:5432/baas"},
        {"name": "BROKER", "value": "redis://:hunter2@redis:6379/0"},
        {"name": "SMTP_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
        {"name": "NODE_KEYS", "value": base64.urlsafe_b64encode(bytes(range(32))).decode()},
        {"name": "SIGNING", "value": "AbC123" * 8},
        {"name": "TLS", "value": "-----BEGIN PRIVATE KEY-----\nMII..."},
    ]
    web["spec"]["template"]["spec"]["containers"][0]["env"] += leaks
    web["spec"]["template"]["spec"]["containers"][0]["envFrom"] = [{"secretRef": {"name": "s"}}]
    cm = {"kind": "ConfigMap", "metadata": {"name": "cfg"},
          "data": {"url": "postgres://u:p@h/db"}}
    findings = "\n".join(secret_findings([web, cm]))
    for needle in ("DATABASE_URL is a secret setting", "BROKER: URL with a password",
                   "SMTP_PASSWORD reads a Secret key", "NODE_KEYS: looks like a key",
                   "SIGNING: looks like a key", "TLS: PEM", "envFrom a Secret",
                   "ConfigMap/cfg: url: URL with a password"):
        assert needle in findings, findings


@pytest.mark.parametrize(("name", "value"), [
    ("DATABASE_URL", "postgres://baas@db/baas"),
    ("SMTP_PASSWORD", "x"),
    ("SOME_SETTING", "redis://:hunter2@redis:6379/0"),
])
def test_extra_env_refuses_secrets(name, value):
    with pytest.raises(HelmError, match=f"config.extraEnv.{name}"):
        render(values={f"config.extraEnv.{name}": value})


def test_every_secret_file_is_mounted_from_the_named_secret(everything):
    expected = {  # env var -> (Secret, key) in values-all.yaml
        "BAAS_SECRET_KEY_FILE": ("baas-django", "secret-key"),
        "BAAS_NODE_KEYS_KEY_FILE": ("baas-django", "node-keys.fernet"),
        "DATABASE_URL_FILE": ("baas-db", "database-url"),
        "REDIS_URL_FILE": ("baas-redis-urls", "broker-url"),
        "BAAS_CACHE_URL_FILE": ("baas-redis-urls", "cache-url"),
        "BAAS_EMAIL_HOST_PASSWORD_FILE": ("baas-smtp", "password"),
    }
    # only the worker mounts the driver's kubeconfig (it can write), the web pods the
    # read-only one, beat and migrations none
    kubeconfigs = {"worker": ("baas-ledger-cluster", "kubeconfig"),
                   "web": ("baas-ledger-cluster-read", "kubeconfig-read")}
    for obj, spec in pod_specs(everything):
        (volume,) = [v for v in spec["volumes"] if v["name"] == "secrets"]
        files = {item["path"]: (source["secret"]["name"], item["key"])
                 for source in volume["projected"]["sources"]
                 for item in source["secret"]["items"]}
        assert volume["projected"]["defaultMode"] == 0o440  # not world-readable
        (container,) = spec["containers"]
        (mount,) = [m for m in container["volumeMounts"] if m["name"] == "secrets"]
        assert mount == {"name": "secrets", "mountPath": SECRETS_DIR, "readOnly": True}
        env = _env(container)
        component = obj["metadata"]["labels"]["app.kubernetes.io/component"]
        if component in kubeconfigs:
            assert files["kubeconfig"] == kubeconfigs[component]
            assert env["BAAS_KUBE_KUBECONFIG"] == f"{SECRETS_DIR}/kubeconfig"
            # the web pods' kubeconfig is used with its current context
            assert ("BAAS_KUBE_CONTEXT" in env) == (component == "worker")
        else:
            assert "kubeconfig" not in files and "BAAS_KUBE_KUBECONFIG" not in env
        for var, secret_key in expected.items():
            path = env[var]
            assert path.startswith(SECRETS_DIR + "/"), (obj["metadata"]["name"], var)
            assert files[path.removeprefix(SECRETS_DIR + "/")] == secret_key, var


def test_optional_secret_files_are_left_out_by_default(default):
    for _obj, spec in pod_specs(default):
        env = _env(spec["containers"][0])
        assert not {"BAAS_CACHE_URL_FILE", "BAAS_EMAIL_HOST_PASSWORD_FILE",
                    "BAAS_KUBE_KUBECONFIG", "BAAS_KUBE_CONTEXT"} & set(env)
        assert {"BAAS_SECRET_KEY_FILE", "BAAS_NODE_KEYS_KEY_FILE", "DATABASE_URL_FILE",
                "REDIS_URL_FILE"} <= set(env)


# --- the Kubernetes driver's settings and rights ---------------------------------------------


def test_kube_settings_come_from_values(default, everything):
    env = _env(_deployment(everything, "worker")["spec"]["template"]["spec"]["containers"][0])
    assert {k: v for k, v in env.items() if k.startswith("BAAS_KUBE_")} == {
        "BAAS_KUBE_NODE_IMAGE": "registry.example.com/baas/node",
        "BAAS_KUBE_STORAGE_CLASS": "fast-ssd",
        "BAAS_KUBE_STORAGE_GB": "20",
        "BAAS_KUBE_READY_TIMEOUT": "300",
        "BAAS_KUBE_CONTROL_PLANE_NAMESPACE": "baas-system",
        "BAAS_KUBE_KUBECONFIG": f"{SECRETS_DIR}/kubeconfig",
        "BAAS_KUBE_CONTEXT": "ledgers",
    }
    assert env["BAAS_INSTALL_ID"] == "prod-eu-1"
    env = _env(_deployment(default, "worker")["spec"]["template"]["spec"]["containers"][0])
    # Defaults: in-cluster config, the release namespace, the release name as install id.
    assert env["BAAS_KUBE_CONTROL_PLANE_NAMESPACE"] == "baas"
    assert env["BAAS_INSTALL_ID"] == "baas"
    assert env["BAAS_KUBE_NODE_IMAGE"] == "baas/node"


def test_cluster_role_holds_least_rights(default):
    rules = cluster_role_rules(default)
    by_resource = normalised_rules(rules)
    manage = {"get", "list", "create", "patch", "delete"}
    named = {"get", "create", "patch", "delete"}  # applied and read by name, never listed
    assert by_resource == {
        ("", "namespaces"): manage, ("", "services"): manage, ("", "configmaps"): manage,
        ("", "persistentvolumeclaims"): manage, ("", "secrets"): named,
        ("apps", "statefulsets"): manage, ("networking.k8s.io", "networkpolicies"): named,
        ("policy", "poddisruptionbudgets"): named,
        ("", "pods"): {"get"}, ("", "pods/log"): {"get"},
        ("authorization.k8s.io", "selfsubjectaccessreviews"): {"create"},
    }
    assert not find(render(values={"rbac.create": False}), "ClusterRole")


def test_cluster_role_grants_exactly_what_the_driver_declares(default):
    """The chart's ClusterRole and the driver's RBAC_RULES are written in two places (a Helm
    template cannot import Python); this keeps them one list. The driver's own tests bind
    RBAC_RULES and run its whole lifecycle with them, so the chart's role is proven too."""
    from deploy.drivers.kubernetes import RBAC_RULES

    assert normalised_rules(cluster_role_rules(default)) == normalised_rules(RBAC_RULES)


def test_web_read_role_grants_exactly_what_node_logs_read(default):
    """The web pods' role and RBAC_READ_RULES (what KubernetesDriver.logs() reads; proven
    on a real API server by deploy/tests/test_k8s_rbac.py) are one list."""
    from deploy.drivers.k8s_rbac import RBAC_READ_RULES

    rules = normalised_rules(cluster_role_rules(default, "-web-read"))
    assert rules == normalised_rules(RBAC_READ_RULES)
    assert all(verbs <= {"get", "list"} for verbs in rules.values())  # reads only
    assert ("", "secrets") not in rules


def test_only_the_worker_holds_the_drivers_rights(default, everything):
    for objects, prefix in ((default, "baas"), (everything, "baas-all")):
        bindings = {b["metadata"]["name"]: b for b in find(objects, "ClusterRoleBinding")}
        worker_sa = _deployment(objects, "worker")["spec"]["template"]["spec"][
            "serviceAccountName"]
        web_spec = _deployment(objects, "web")["spec"]["template"]["spec"]
        driver = bindings[f"{prefix}-driver"]
        assert driver["roleRef"]["name"] == f"{prefix}-driver"
        assert [s["name"] for s in driver["subjects"]] == [worker_sa]
        read = bindings[f"{prefix}-web-read"]
        assert read["roleRef"]["name"] == f"{prefix}-web-read"
        assert [s["name"] for s in read["subjects"]] == [web_spec["serviceAccountName"]]
        assert web_spec["serviceAccountName"] != worker_sa
        # beat and migrations never call the Kubernetes API: no token at all
        for component in ("beat",):
            spec = _deployment(objects, component)["spec"]["template"]["spec"]
            assert spec["automountServiceAccountToken"] is False
        (job,) = find(objects, "Job")
        assert job["spec"]["template"]["spec"]["automountServiceAccountToken"] is False
    # in-cluster (default): the web pods need their token for node logs; with a kubeconfig
    # for another cluster they use the read-only kubeconfig and get no token
    assert _deployment(default, "web")["spec"]["template"]["spec"][
        "automountServiceAccountToken"] is True
    assert _deployment(everything, "web")["spec"]["template"]["spec"][
        "automountServiceAccountToken"] is False


def test_the_admission_policy_binds_the_workers_identity(default, everything):
    (policy,) = find(default, "ValidatingAdmissionPolicy")
    (binding,) = find(default, "ValidatingAdmissionPolicyBinding")
    assert binding["spec"] == {"policyName": policy["metadata"]["name"],
                               "validationActions": ["Deny"]}
    spec = policy["spec"]
    assert spec["failurePolicy"] == "Fail"
    (rule,) = spec["matchConstraints"]["resourceRules"]
    assert rule["operations"] == ["CREATE", "UPDATE", "DELETE"]
    assert rule["resources"] == ["*/*"] and rule["apiGroups"] == ["*"]
    (condition,) = spec["matchConditions"]
    assert condition["expression"] == (
        'request.userInfo.username in ["system:serviceaccount:baas:baas"]')
    texts = " ".join(v["expression"] for v in spec["validations"])
    assert "baas.io/install'] == 'baas'" in texts  # the release name is the install id
    (policy,) = find(everything, "ValidatingAdmissionPolicy")
    assert policy["spec"]["matchConditions"][0]["expression"] == (
        'request.userInfo.username in ["system:serviceaccount:baas-system:baas-control-plane",'
        ' "baas-ledger-driver"]'.replace(", ", ","))
    assert "baas.io/install'] == 'prod-eu-1'" in " ".join(
        v["expression"] for v in policy["spec"]["validations"])
    off = render(values={"admissionPolicy.enabled": False})
    assert not find(off, "ValidatingAdmissionPolicy")
    assert not find(off, "ValidatingAdmissionPolicyBinding")


@pytest.mark.parametrize("values", VALUE_SETS)
def test_tmp_is_memory_with_a_size_limit(values):
    """The kubernetes client writes a kubeconfig's decrypted client key to a temporary file
    and keeps it until the process exits: /tmp (and TMPDIR) must be tmpfs, never disk."""
    objects = render(**VALUE_SETS[values])
    limit = "512Mi" if values == "all-options" else "256Mi"
    for obj, spec in pod_specs(objects):
        volumes = {v["name"]: v for v in spec["volumes"]}
        for container in containers(spec):
            mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
            tmpdir = _env(container).get("TMPDIR", "/tmp")
            for path in {"/tmp", tmpdir}:
                volume = volumes[mounts[path]]
                assert volume["emptyDir"] == {"medium": "Memory", "sizeLimit": limit}, (
                    obj["metadata"]["name"], path)


def test_web_network_policy_admits_only_the_ingress_and_this_namespace(default, everything):
    (policy,) = find(default, "NetworkPolicy")
    web = _deployment(default, "web")
    assert policy["spec"]["podSelector"] == web["spec"]["selector"]
    assert policy["spec"]["policyTypes"] == ["Ingress"]  # egress (database, RPC) stays open
    (rule,) = policy["spec"]["ingress"]
    assert rule["from"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}},
        {"podSelector": {}},  # same namespace
    ]
    assert rule["ports"] == [{"protocol": "TCP", "port": "http"}]
    (policy,) = find(everything, "NetworkPolicy")
    assert policy["spec"]["ingress"][0]["from"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "traefik"}},
         "podSelector": {"matchLabels": {"app.kubernetes.io/name": "traefik"}}},
        {"podSelector": {}},
        {"ipBlock": {"cidr": "192.0.2.0/24"}},
    ]
    assert not find(render(values={"web.networkPolicy.enabled": False}), "NetworkPolicy")


def test_a_load_balancer_service_without_admitted_addresses_is_refused_not_cut_off():
    """With the web policy on, a LoadBalancer or NodePort service would be unreachable
    unless its traffic's addresses are admitted: the render says so instead."""
    with pytest.raises(HelmError) as refused:
        render(values={"web.service.type": "LoadBalancer"})
    assert "web.networkPolicy.extraFrom" in str(refused.value)
    admitted = render(values={"web.service.type": "LoadBalancer",
                              "web.networkPolicy.extraFrom[0].ipBlock.cidr": "10.0.0.0/8"})
    assert find(admitted, "NetworkPolicy")
    assert render(values={"web.service.type": "NodePort", "web.networkPolicy.enabled": False})
    with pytest.raises(HelmError, match="ingressNamespaceSelector"):
        # an empty selector would admit every namespace
        render(values={"web.networkPolicy.ingressNamespaceSelector": None})


def test_every_value_is_commented():
    """values.yaml is the chart's reference: each value has a comment line right above it
    (the requests and limits inside a commented `resources` excepted)."""
    lines = (CHART / "values.yaml").read_text().splitlines()
    stack: list[tuple[int, str]] = []
    bare = []
    for number, line in enumerate(lines, 1):
        match = re.match(r"^(\s*)([A-Za-z][\w.-]*):\s*(.*)$", line)
        if not match:
            continue
        indent, key, value = len(match[1]), match[2], match[3]
        while stack and stack[-1][0] >= indent:
            stack.pop()
        parents = [k for _, k in stack]
        stack.append((indent, key))
        if value and "resources" not in parents and not lines[number - 2].strip().startswith("#"):
            bare.append(f"{number}: {line.strip()}")
    assert len(stack) > 0 and not bare, bare
