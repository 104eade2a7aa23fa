"""The Kubernetes driver without a cluster: every manifest it renders validates against the
OpenAPI schemas of Kubernetes 1.30-1.34, the ownership contract (names, labels, keys only in
the Secret), the init container's copy-once program, and error codes of an API server
that is down, hung or misconfigured. The tests against a real API server are in
``test_drivers_kubernetes.py``."""

from __future__ import annotations

import base64
import json
import os
import re
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import kubernetes_validate
import pytest

from deploy.drivers import DriverError, NodeAddress, NodeSpec
from deploy.drivers import k8s_manifests as m
from deploy.drivers.kubernetes import RBAC_RULES, KubernetesDriver, render_network, render_node

VERSIONS = ["1.30.0", "1.31.0", "1.32.0", "1.33.0", "1.34.0"]
HOME = {"node.json": b'{"moniker": "node0"}', "cometbft/config/genesis.json": b"{}",
        "cometbft/config/config.toml": b'moniker = "node0"\n'}
KEYS = {"cometbft/config/priv_validator_key.json": b'{"priv_key": "secret-validator"}',
        "cometbft/config/node_key.json": b'{"priv_key": "secret-node"}'}


def spec(index: int = 0, **changes) -> NodeSpec:
    network_id = changes.pop("network_id", "3f1c6c1e-8d5c-4a57-9a43-0a4a2f1e9b01")
    base = NodeSpec(install_id="install-a", tenant_id="17", network_id=network_id,
                    node_id=str(uuid.uuid4()), index=index, moniker=f"node{index}",
                    address=NodeAddress(m.node_host(network_id, index), 26656, 26657, 26658),
                    home_files=HOME, secret_files=KEYS, cpu_limit=0.5, memory_mb=256,
                    ledger_version="0123456789abcdef")
    return NodeSpec(**{**base.__dict__, **changes})


def all_manifests() -> list[dict]:
    s = spec()
    return [*render_network(install_id="install-a", tenant_id="17", network_id=s.network_id,
                            validators=4),
            *render_node(s, image="registry.example/baas/node:ledger-0123456789abcdef",
                         storage_class="fast-ssd", storage_gb=20)]


@pytest.mark.parametrize("version", VERSIONS)
def test_every_rendered_manifest_validates_strictly(version):
    manifests = all_manifests()
    assert {o["kind"] for o in manifests} == {
        "Namespace", "NetworkPolicy", "PodDisruptionBudget", "Service", "ConfigMap", "Secret",
        "StatefulSet"}
    for obj in manifests:
        kubernetes_validate.validate(obj, version, strict=True)


def test_the_validator_rejects_what_a_cluster_would():
    """The schema check above can fail: a typo in a field is caught."""
    sts = all_manifests()[-1]
    sts["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(sts, "1.34.0", strict=True)


def test_every_object_carries_the_ownership_labels():
    s = spec()
    for obj in all_manifests():
        labels = obj["metadata"]["labels"]
        assert labels["app.kubernetes.io/managed-by"] == "baas"
        assert (labels["baas.io/install"], labels["baas.io/tenant"],
                labels["baas.io/network"]) == ("install-a", "17", s.network_id)
        if obj["kind"] != "Namespace":
            assert obj["metadata"]["namespace"] == f"baas-{s.network_id}"
    for obj in render_node(s, image="i"):
        labels = obj["metadata"]["labels"]
        assert (labels["baas.io/node"], labels["baas.io/node-index"],
                labels["baas.io/role"]) == (s.node_id, "0", "validator")
    sts = render_node(s, image="i")[-1]
    # the pods and the chain-data claim carry them too (a PVC outlives its StatefulSet)
    assert sts["spec"]["template"]["metadata"]["labels"]["baas.io/node"] == s.node_id
    assert sts["spec"]["volumeClaimTemplates"][0]["metadata"]["labels"]["baas.io/install"] \
        == "install-a"


def test_keys_are_only_in_the_secret_never_in_the_configmap_or_env():
    service, config_map, secret, sts = render_node(spec(), image="i")
    decoded = {k: base64.b64decode(v) for k, v in secret["data"].items()}
    assert sorted(decoded.values()) == sorted(KEYS.values())
    cm_text = json.dumps(config_map)
    assert "secret-validator" not in cm_text and "secret-node" not in cm_text
    assert "c2VjcmV0" not in cm_text  # base64 of "secret"
    pod = sts["spec"]["template"]["spec"]
    for container in pod["containers"] + pod["initContainers"]:
        assert "secret" not in json.dumps(container.get("env", []))
    keys_volume = next(v for v in pod["volumes"] if v["name"] == "home-keys")
    assert keys_volume["secret"]["secretName"] == "node0-keys"
    assert {i["path"] for i in keys_volume["secret"]["items"]} == set(KEYS)
    # only the init container mounts the keys; the node reads them from its home
    assert all(v["name"] != "home-keys" for v in pod["containers"][0]["volumeMounts"])


def test_the_pod_runs_unprivileged_with_limits_and_a_readiness_probe():
    sts = render_node(spec(cpu_limit=1.5, memory_mb=768), image="repo/node:ledger-x")[-1]
    pod = sts["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsUser"] == 10001 and pod["securityContext"]["runAsNonRoot"]
    for container in pod["containers"] + pod["initContainers"]:
        ctx = container["securityContext"]
        assert ctx["readOnlyRootFilesystem"] and not ctx["allowPrivilegeEscalation"]
        assert ctx["capabilities"] == {"drop": ["ALL"]}
    node = pod["containers"][0]
    assert node["resources"]["limits"] == {"cpu": "1500m", "memory": "768Mi"}
    assert node["resources"]["requests"] == node["resources"]["limits"]
    assert node["readinessProbe"]["httpGet"] == {"path": "/status", "port": 26657}
    assert node["image"] == "repo/node:ledger-x" and "command" not in node  # image entrypoint
    assert sts["spec"]["replicas"] == 1 and sts["spec"]["serviceName"] == "node0"


@pytest.mark.parametrize(("validators", "floor"), [(1, 1), (2, 2), (3, 3), (4, 3), (5, 4),
                                                    (7, 5), (10, 7)])
def test_the_disruption_budget_keeps_more_than_two_thirds(validators, floor):
    assert m.pdb_min_available(validators) == floor
    assert floor > 2 * validators / 3
    pdb = render_network(install_id="i", tenant_id="t", network_id="n1",
                         validators=validators)[-1]
    assert pdb["kind"] == "PodDisruptionBudget" and pdb["spec"]["minAvailable"] == floor


def test_the_network_policy_admits_only_the_namespace_and_the_control_plane_on_rpc():
    policy = render_network(install_id="i", tenant_id="t", network_id="n1",
                            control_plane_namespace="baas-system")[1]
    same_ns, control_plane = policy["spec"]["ingress"]
    assert policy["spec"]["podSelector"] == {} and policy["spec"]["policyTypes"] == ["Ingress"]
    assert same_ns == {"from": [{"podSelector": {}}]}
    # RPC, and CometBFT's metrics listener for the node metrics endpoint
    assert control_plane["ports"] == [{"protocol": "TCP", "port": 26657},
                                      {"protocol": "TCP", "port": 26660}]
    assert control_plane["from"][0]["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "baas-system", "baas.io/control-plane": "true"}


def test_names_images_and_file_keys():
    assert m.node_host("n1", 3) == "node3.baas-n1.svc.cluster.local"
    assert m.image_for("registry:5000/baas/node:latest", "ab" * 8) == \
        "registry:5000/baas/node:ledger-" + "ab" * 8
    assert m.image_for("baas/node@sha256:00", "ab" * 8) == "baas/node:ledger-" + "ab" * 8
    paths = ["cometbft/config/node_key.json", "cometbft_2fconfig", "a b", "x_y"]
    keys = [m.file_key(p) for p in paths]
    assert len(set(keys)) == len(keys)  # escaping keeps different paths apart
    assert all(re.fullmatch(r"[-._a-zA-Z0-9]+", k) for k in keys)  # ConfigMap key syntax


@pytest.mark.parametrize("bad", [
    {"network_id": "Not_A_DNS_Label"}, {"network_id": "x" * 60}, {"install_id": "bad install"},
    {"node_id": "../etc"}, {"cpu_limit": 0}, {"cpu_limit": 0.0004}, {"memory_mb": 8},
    {"home_files": {}},
    {"home_files": {"../escape": b"x"}}, {"secret_files": {"node.json": b"dup"}},
])
def test_bad_specs_are_invalid_spec_before_any_call(bad):
    with pytest.raises(DriverError) as err:
        render_node(spec(**bad), image="i")
    assert err.value.code == "invalid_spec"


def test_rbac_rules_are_least_rights():
    verbs = {(g, r): set(rule["verbs"]) for rule in RBAC_RULES for g in rule["apiGroups"]
             for r in rule["resources"]}
    assert all("*" not in v and "escalate" not in v and "bind" not in v for v in verbs.values())
    assert verbs[("", "secrets")] == {"get", "create", "patch", "delete"}  # never list
    assert ("", "pods/exec") not in verbs and ("", "nodes") not in verbs
    assert not any(g == "rbac.authorization.k8s.io" for g, _ in verbs)
    assert verbs[("", "pods")] == {"get"}


def _configmap_volume(root: Path, files: dict[str, bytes]) -> Path:
    """The layout the kubelet gives a ConfigMap volume: files under a timestamped dir,
    ``..data`` linking to it, and top-level symlinks through ``..data``."""
    stamp = root / "..2026_12_04_21_00_00.1"
    for rel, content in files.items():
        (stamp / rel).parent.mkdir(parents=True, exist_ok=True)
        (stamp / rel).write_bytes(content)
    (root / "..data").symlink_to(stamp.name)
    for top in {rel.split("/")[0] for rel in files}:
        (root / top).symlink_to(f"..data/{top}")
    return root


def test_the_init_container_writes_the_home_once(tmp_path):
    config = _configmap_volume(tmp_path / "config", HOME)
    keys = _configmap_volume(tmp_path / "keys", KEYS)
    home = tmp_path / "home"
    home.mkdir()
    script = m.init_script(str(home), (str(config), str(keys)))
    run = [sys.executable, "-c", script]
    assert "written" in subprocess.run(run, capture_output=True, text=True, check=True).stdout
    for rel, content in {**HOME, **KEYS}.items():
        assert (home / rel).read_bytes() == content
        assert (home / rel).stat().st_mode & 0o077 == 0
    assert (home / m.HOME_MARKER).exists()
    assert not any(p.name.startswith("..") for p in home.rglob("*"))
    # the node changed its key state: a second run (pod rescheduled) leaves it alone
    (home / "cometbft/config/node_key.json").write_bytes(b"changed by the node")
    out = subprocess.run(run, capture_output=True, text=True, check=True).stdout
    assert "already written" in out
    assert (home / "cometbft/config/node_key.json").read_bytes() == b"changed by the node"


def test_no_cluster_configured_is_driver_unavailable(monkeypatch, settings):
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    settings.BAAS_KUBE_KUBECONFIG = None
    driver = KubernetesDriver(install_id="x")
    with pytest.raises(DriverError) as err:
        driver.check()
    assert err.value.code == "driver_unavailable"


def test_an_unreadable_kubeconfig_or_context_is_driver_unavailable(tmp_path):
    for drv in (KubernetesDriver(kubeconfig=str(tmp_path / "missing"), install_id="x"),
                KubernetesDriver(kubeconfig=_kubeconfig("http://127.0.0.1:1"), context="nope",
                                 install_id="x")):
        with pytest.raises(DriverError) as err:
            drv.inspect_node(network_id="n1", node_id="m1")
        assert err.value.code == "driver_unavailable"


def _kubeconfig(server: str) -> dict:
    return {"apiVersion": "v1", "kind": "Config", "current-context": "c",
            "clusters": [{"name": "c", "cluster": {"server": server}}],
            "users": [{"name": "u", "user": {"token": "t"}}],
            "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}]}


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_api_server_that_is_down_is_driver_unavailable():
    drv = KubernetesDriver(kubeconfig=_kubeconfig(f"http://127.0.0.1:{_closed_port()}"),
                           install_id="x", timeout=2)
    for call in (drv.check, lambda: drv.list_owned(install_id="x"),
                 lambda: drv.inspect_node(network_id="n1", node_id="m1")):
        with pytest.raises(DriverError) as err:
            call()
        assert err.value.code == "driver_unavailable"


def test_an_api_server_that_never_answers_is_driver_timeout():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()  # accepts connections, never replies
    try:
        drv = KubernetesDriver(kubeconfig=_kubeconfig(f"http://127.0.0.1:"
                                                      f"{server.getsockname()[1]}"),
                               install_id="x", timeout=1)
        with pytest.raises(DriverError) as err:
            drv.check()
        assert err.value.code == "driver_timeout"
    finally:
        server.close()


@pytest.mark.parametrize(("name", "value"), [("BAAS_KUBE_STORAGE_GB", "lots"),
                                             ("BAAS_KUBE_READY_TIMEOUT", "-1")])
def test_bad_numeric_settings_are_invalid_spec(settings, name, value):
    setattr(settings, name, value)
    with pytest.raises(DriverError) as err:
        KubernetesDriver(kubeconfig="unused", install_id="x")
    assert err.value.code == "invalid_spec" and name in err.value.message


def test_the_kubeconfig_setting_is_a_path_never_read_from_kubeconfig_env(monkeypatch, settings):
    settings.BAAS_KUBE_KUBECONFIG = None
    monkeypatch.setenv("KUBECONFIG", os.devnull)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    assert KubernetesDriver(install_id="x").kubeconfig is None


@pytest.fixture
def fake_api_server():
    """An HTTP server answering every request with the status and body a test sets."""
    import http.server
    import threading

    answer = {"status": 200, "body": b"{}", "type": "application/json"}

    class Handler(http.server.BaseHTTPRequestHandler):
        def _reply(self):
            self.send_response(answer["status"])
            self.send_header("Content-Type", answer["type"])
            self.send_header("Content-Length", str(len(answer["body"])))
            self.end_headers()
            self.wfile.write(answer["body"])

        do_GET = do_PATCH = do_POST = do_DELETE = _reply

        def log_message(self, *args):  # keep the test output clean
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", answer
    server.shutdown()
    server.server_close()


def _status(code: int, message: str) -> bytes:
    return json.dumps({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                       "message": message, "code": code}).encode()


@pytest.mark.parametrize(("status", "message", "code"), [
    (403, 'namespaces is forbidden: User "u" cannot create resource "namespaces"',
     "cluster_forbidden"),
    (403, "unable to create new content in namespace baas-n1 because it is being terminated",
     "driver_error"),
    (401, "Unauthorized", "driver_unavailable"),
    (422, 'StatefulSet "node0" is invalid: spec.replicas: Invalid value', "invalid_spec"),
    (429, "too many requests", "driver_unavailable"),
    (503, "the server is shutting down", "driver_unavailable"),
    (504, "the request timed out", "driver_timeout"),
    (500, "etcdserver: no leader", "driver_error"),
])
def test_api_answers_become_stable_codes_with_the_servers_message(fake_api_server, status,
                                                                  message, code):
    url, answer = fake_api_server
    answer.update(status=status, body=_status(status, message))
    drv = KubernetesDriver(kubeconfig=_kubeconfig(url), install_id="x", timeout=5)
    with pytest.raises(DriverError) as err:
        drv.prepare_network(install_id="x", tenant_id="t", network_id="n1")
    assert err.value.code == code and message in err.value.message


def test_an_answer_that_is_not_json_is_driver_error(fake_api_server):
    url, answer = fake_api_server
    answer.update(body=b"<html>proxy login</html>", type="text/html")
    drv = KubernetesDriver(kubeconfig=_kubeconfig(url), install_id="x", timeout=5)
    with pytest.raises(DriverError) as err:
        drv.inspect_node(network_id="n1", node_id="m1")
    assert err.value.code == "driver_error" and "not JSON" in err.value.message


@pytest.mark.parametrize("minor", ["26", "29+"])
def test_an_older_kubernetes_is_refused_by_check(fake_api_server, minor):
    url, answer = fake_api_server
    answer.update(body=json.dumps({"major": "1", "minor": minor,
                                   "gitVersion": f"v1.{minor[:2]}.3"}).encode())
    drv = KubernetesDriver(kubeconfig=_kubeconfig(url), install_id="x", timeout=5)
    with pytest.raises(DriverError) as err:
        drv.check()
    assert err.value.code == "driver_unavailable" and "1.30 or newer" in err.value.message


def test_kubeconfig_content_in_the_path_setting_is_refused_without_echoing_it(settings):
    settings.BAAS_KUBE_KUBECONFIG = "apiVersion: v1\nusers:\n- user: {token: s3cr3t}\n"
    with pytest.raises(DriverError) as err:
        KubernetesDriver(install_id="x").check()
    assert err.value.code == "invalid_spec" and "s3cr3t" not in str(err.value)


def test_quantities_are_rendered_as_the_api_server_rewrites_them():
    """drift() compares what it rendered with what the server stores: both canonical."""
    assert [m.quantity_cpu(c) for c in (0.5, 1.0, 1.5, 2.0, 0.25)] == [
        "500m", "1", "1500m", "2", "250m"]
    assert [m.quantity_bytes(mb * 2**20) for mb in (256, 1024, 1536, 1048576)] == [
        "256Mi", "1Gi", "1536Mi", "1Ti"]
    assert [m.gib_of(q) for q in ("5Gi", "1Ti", "512Mi", "bogus")] == [5, 1024, None, None]
    sts = render_node(spec(memory_mb=2048), image="i", storage_gb=1024)[-1]
    assert sts["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"] \
        == "2Gi"
    assert sts["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"] == {
        "storage": "1Ti"}


INSTRUMENTED_TOML = (b'moniker = "node0"\n\n[rpc]\nladdr = "tcp://node0:26657"\n\n'
                     b'[instrumentation]\nprometheus = false\n'
                     b'prometheus_listen_addr = ":26660"\nmax_open_connections = 3\n'
                     b'namespace = "cometbft"\n')


@pytest.mark.parametrize("version", VERSIONS[-1:])
def test_a_node_planned_with_a_metrics_port_exposes_cometbft_metrics(version):
    """The ConfigMap's config.toml turns CometBFT's Prometheus listener on, the pod and
    the Service declare the port, and a spec read back from the rendered objects renders
    the same objects again (no drift for the reconciler to 'repair')."""
    import tomllib

    from deploy.drivers._kube_drift import spec_from_live

    s = spec(home_files={**HOME, "cometbft/config/config.toml": INSTRUMENTED_TOML},
             address=NodeAddress(m.node_host("n", 0), 26656, 26657, 26658, 26660))
    service, config_map, secret, sts = render_node(s, image="img:1")
    for obj in (service, config_map, secret, sts):
        kubernetes_validate.validate(obj, version, strict=True)
    toml = tomllib.loads(base64.b64decode(
        config_map["binaryData"][m.file_key("cometbft/config/config.toml")]).decode())
    assert toml["instrumentation"] == {"prometheus": True, "prometheus_listen_addr": ":26660",
                                       "max_open_connections": 3, "namespace": "cometbft"}
    node = sts["spec"]["template"]["spec"]["containers"][0]
    assert {"name": "metrics", "containerPort": 26660, "protocol": "TCP"} in node["ports"]
    assert {"name": "metrics", "port": 26660, "targetPort": 26660, "protocol": "TCP"} \
        in service["spec"]["ports"]
    assert m.metrics_port_of(sts) == 26660
    back = spec_from_live(sts, config_map, secret)
    assert back.address.metrics_port == 26660
    assert render_node(back, image="img:1")[1] == config_map

    # A node planned before metrics existed renders exactly as before: no port, config as is.
    old = spec(home_files={**HOME, "cometbft/config/config.toml": INSTRUMENTED_TOML})
    _service, old_map, _secret, old_sts = render_node(old, image="img:1")
    assert m.metrics_port_of(old_sts) == 0
    assert base64.b64decode(old_map["binaryData"][m.file_key("cometbft/config/config.toml")]) \
        == INSTRUMENTED_TOML


def test_storage_quantities_are_read_exactly_or_not_at_all():
    assert m.quantity_to_bytes("5Gi") == 5 * 2**30
    assert m.quantity_to_bytes("500M") == 500 * 10**6
    assert m.quantity_to_bytes("1073741824") == 2**30
    assert m.quantity_to_bytes("64Ki") == 64 * 1024
    assert m.quantity_to_bytes("1.5Gi") is None and m.quantity_to_bytes("1e9") is None
