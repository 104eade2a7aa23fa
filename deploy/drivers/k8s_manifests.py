"""The Kubernetes objects of a ledger network, rendered as plain dicts: no client, no I/O.

``deploy.drivers.kubernetes`` applies them by server-side apply; tests and the Helm chart's
test validate them offline (``kubernetes_validate``). Names and labels here are the
ownership contract of issue 11 (``baas-<network>`` namespace, ``node<i>`` objects, the
``baas.io/*`` labels): list_owned, delete and drift select by them, never by names alone.

Per network: the namespace, NetworkPolicy ``baas-isolation`` and PodDisruptionBudget
``validators``. Per validator ``i``: headless Service ``node<i>``, ConfigMap ``node<i>-home``
(the home files), Secret ``node<i>-keys`` (the private keys) and StatefulSet ``node<i>``
whose volumeClaimTemplate ``data`` holds the node home (``/node``) and chain data.
"""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

from deploy.drivers._files import home_path
from deploy.drivers._instrumentation import instrumented
from deploy.drivers.base import DriverError, NodeSpec

P2P_PORT, RPC_PORT = 26656, 26657
METRICS_PORT = 26660  # CometBFT's Prometheus listener (nodes planned with one)
HOME = "/node"
NODE_UID = 10001  # the node image's unprivileged user (deploy/images/node/Dockerfile)
HOME_MARKER = ".baas-home-written"  # written last by the init container: "the copy finished"
FIELD_MANAGER = "baas-control-plane"

MANAGED_BY = "app.kubernetes.io/managed-by"
L_INSTALL, L_TENANT, L_NETWORK = "baas.io/install", "baas.io/tenant", "baas.io/network"
L_NODE, L_INDEX, L_ROLE = "baas.io/node", "baas.io/node-index", "baas.io/role"
L_VERSION = "baas.io/ledger-version"  # on the StatefulSet: the version it was applied with
L_CONTROL_PLANE = "baas.io/control-plane"  # on the control plane's own namespace
# Annotations on the StatefulSet: what the driver last asked for, so drift() can tell an
# edit in the cluster from a change the driver made (stop_node scales to 0 on purpose).
A_REPLICAS = "baas.io/replicas"
A_HOME_SHA = "baas.io/home-sha256"
A_CPU, A_MEMORY = "baas.io/cpu-limit", "baas.io/memory-mb"

NETWORK_POLICY = "baas-isolation"
PDB = "validators"

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")

# The init container: copy the projected ConfigMap and Secret files into the home on the
# volume, once. Like the Docker driver's put_archive + marker: a home that already holds a
# node (keys, the validator's last signed height) is never overwritten, and a copy cut
# short (pod killed) is redone because the marker is written last.
CONFIG_DIR, KEYS_DIR = "/baas/home", "/baas/keys"  # the init container's read-only mounts


def init_script(home: str = HOME, sources: tuple[str, ...] = (CONFIG_DIR, KEYS_DIR)) -> str:
    """The init container's program (``python3 -c``; the paths are parameters for tests)."""
    return f"""\
import os, sys
home = {home!r}
marker = os.path.join(home, {HOME_MARKER!r})
if os.path.exists(marker):
    print("baas-init: the node home is already written; left as it is")
    sys.exit(0)
for src in {sources!r}:
    # ConfigMap and Secret volumes keep their files under ..data (symlinked): skip those names
    for root, dirs, files in os.walk(src, followlinks=True):
        dirs[:] = [d for d in dirs if not d.startswith("..")]
        for name in files:
            if name.startswith(".."):
                continue
            rel = os.path.relpath(os.path.join(root, name), src)
            dest = os.path.join(home, rel)
            os.makedirs(os.path.dirname(dest), mode=0o700, exist_ok=True)
            with open(os.path.join(root, name), "rb") as fh:
                data = fh.read()
            tmp = dest + ".baas-tmp"
            with open(tmp, "wb") as out:
                out.write(data)
            os.chmod(tmp, 0o600)
            os.replace(tmp, dest)
open(marker, "w").close()
print("baas-init: node home written")
"""

# Least rights of the driver, as one ClusterRole (the Helm chart renders exactly these).
# Cluster-wide because each network gets a namespace of its own, made at run time.
# Secrets have no list/watch: the driver writes and deletes its own by name and never
# needs to enumerate anybody's. No pods/exec, no nodes, no RBAC objects.
_CRUD = ["get", "list", "create", "patch", "delete"]
RBAC_RULES: list[dict[str, Any]] = [
    {"apiGroups": [""], "resources": ["namespaces"], "verbs": _CRUD},
    {"apiGroups": [""], "resources": ["services", "configmaps", "persistentvolumeclaims"],
     "verbs": _CRUD},
    {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "create", "patch", "delete"]},
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]},  # node<i>-0, by name
    {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
    {"apiGroups": ["apps"], "resources": ["statefulsets"], "verbs": _CRUD},
    {"apiGroups": ["networking.k8s.io"], "resources": ["networkpolicies"],
     "verbs": ["get", "create", "patch", "delete"]},
    {"apiGroups": ["policy"], "resources": ["poddisruptionbudgets"],
     "verbs": ["get", "create", "patch", "delete"]},
    {"apiGroups": ["authorization.k8s.io"], "resources": ["selfsubjectaccessreviews"],
     "verbs": ["create"]},
]


# --- names -------------------------------------------------------------------------------


def namespace_name(network_id: str) -> str:
    name = f"baas-{network_id}"
    if not isinstance(network_id, str) or not _DNS_LABEL.match(name):
        raise DriverError("invalid_spec", f"network id {network_id!r} cannot name a namespace "
                                          "(lowercase letters, digits and '-', 58 at most)")
    return name


def node_name(index: int) -> str:
    if not isinstance(index, int) or index < 0:
        raise DriverError("invalid_spec", f"node index {index!r} must be an integer >= 0")
    return f"node{index}"


_NODE_OBJECT_RE = re.compile(r"node([0-9]{1,5})(|-home|-keys)")  # Node.index: up to 32767
_COUNT_RE = re.compile(r"[0-9]{1,9}")


def node_index(name: Any) -> int | None:
    """The index in a node object's name (``node3``, ``node3-home``, ``node3-keys``), or
    None for a name that is not a node object's. The index is read from the name, which
    is immutable, never from the ``L_INDEX`` label: whoever runs a tenant's cluster can
    edit labels, and ``int()`` of one may raise or name another node."""
    found = _NODE_OBJECT_RE.fullmatch(name) if isinstance(name, str) else None
    return int(found.group(1)) if found else None


def whole_number(value: Any, default: int) -> int:
    """An annotation read back as a count (``A_REPLICAS``, ``A_MEMORY``): annotations are
    free text anyone with access to the cluster can edit, so a value that is not a plain
    whole number is ``default`` (and shows as drift), never an exception."""
    text = str(value) if value is not None else ""
    return int(text) if _COUNT_RE.fullmatch(text) else default


def decimal_number(value: Any, default: float) -> float:
    """``whole_number`` for a decimal annotation (``A_CPU``): finite, not negative."""
    try:
        number = float(str(value))
    except ValueError:
        return default
    return number if 0 <= number < 1e6 else default


def node_host(network_id: str, index: int) -> str:
    """The DNS name peers dial (the headless Service resolves to the pod)."""
    return f"{node_name(index)}.{namespace_name(network_id)}.svc.cluster.local"


def image_for(repository: str, version: str) -> str:
    """``<repository>:ledger-<version>``; a tag or digest on the configured image is dropped
    (the version picks the tag, as ``scripts/build-node-image.sh`` tags each build)."""
    repo = repository.split("@", 1)[0]
    if ":" in repo.rsplit("/", 1)[-1]:
        repo = repo.rsplit(":", 1)[0]
    return f"{repo}:ledger-{version}"


def pdb_min_available(validators: int) -> int:
    """More than two thirds of the validators must stay up for CometBFT to commit."""
    return (2 * validators) // 3 + 1


def metrics_port_of(sts: Any) -> int:
    """The metrics port a live StatefulSet's node container declares (0: none, or not a
    port number). The object comes from the API server, which anybody with access to the
    cluster can edit: whatever shape it has, this answers a port or 0, never raises."""
    try:
        containers = sts["spec"]["template"]["spec"]["containers"]
    except (KeyError, TypeError, IndexError):
        return 0
    for container in containers if isinstance(containers, list) else []:
        ports = container.get("ports") if isinstance(container, dict) else None
        for port in ports if isinstance(ports, list) else []:
            if isinstance(port, dict) and port.get("name") == "metrics":
                number = port.get("containerPort")
                if isinstance(number, bool) or not isinstance(number, (int, str)):
                    return 0
                try:
                    value = int(number)
                except ValueError:
                    return 0
                return value if 0 < value < 65536 else 0
    return 0


def file_key(path: str) -> str:
    """A ConfigMap/Secret key for a home path (keys allow only ``[-._a-zA-Z0-9]``):
    ``_`` and every other character are escaped as ``_xx`` hex, so it is reversible."""
    home_path(path)
    return "".join(c if c.isascii() and (c.isalnum() or c in "-.") else f"_{ord(c):02x}"
                   for c in path)


def home_digest(config: dict[str, bytes], keys: dict[str, bytes]) -> str:
    """One hash of the ConfigMap's and the Secret's content (by key), recorded on the
    StatefulSet so drift() can tell when either was edited without reading the spec."""
    h = hashlib.sha256()
    for part, files in ((b"config", config), (b"keys", keys)):
        for key in sorted(files):
            h.update(part + b"\0" + key.encode() + b"\0" + files[key] + b"\0")
    return h.hexdigest()


_BINARY = (("Pi", 2**50), ("Ti", 2**40), ("Gi", 2**30), ("Mi", 2**20))


def quantity_bytes(amount: int) -> str:
    """Bytes in the API server's canonical binary form ("512Mi", "1Gi" for 1024Mi): the
    server rewrites quantities so, and drift() compares what it reads back."""
    for suffix, size in _BINARY:
        if amount % size == 0:
            return f"{amount // size}{suffix}"
    return str(amount)


def gib_of(quantity: str) -> int | None:
    """GiB of a canonical binary quantity ("5Gi", "1Ti"), None for anything else."""
    for suffix, size in _BINARY:
        number = quantity[: -len(suffix)]
        if quantity.endswith(suffix) and number.isdigit():
            return int(number) * size // 2**30 or None
    return None


_DECIMAL = (("k", 10**3), ("M", 10**6), ("G", 10**9), ("T", 10**12), ("P", 10**15))


def quantity_to_bytes(quantity: str) -> int | None:
    """Bytes of a whole storage quantity ("5Gi", "500M", "1073741824"); None for anything
    else (fractions, exponents): a figure we cannot read exactly is not guessed."""
    if quantity.isdigit():
        return int(quantity)
    for suffix, size in (*_BINARY, ("Ki", 2**10), *_DECIMAL):
        number = quantity[: -len(suffix)]
        if quantity.endswith(suffix) and number.isdigit():
            return int(number) * size
    return None


def quantity_cpu(cpu: float) -> str:
    """CPU in the API server's canonical form ("1", "500m"), so a re-read compares equal."""
    millis = round(cpu * 1000)
    return str(millis // 1000) if millis % 1000 == 0 else f"{millis}m"


# --- labels ------------------------------------------------------------------------------


def _label(kind: str, value: str) -> str:
    if not isinstance(value, str) or not _LABEL_VALUE.match(value) or not value:
        raise DriverError("invalid_spec", f"{kind} {value!r} cannot be a Kubernetes label value")
    return value


def network_labels(*, install_id: str, tenant_id: str, network_id: str) -> dict[str, str]:
    return {
        MANAGED_BY: "baas",
        L_INSTALL: _label("install id", install_id),
        L_TENANT: _label("tenant id", str(tenant_id)),
        L_NETWORK: _label("network id", network_id),
    }


def node_labels(spec: NodeSpec) -> dict[str, str]:
    return {
        **network_labels(install_id=spec.install_id, tenant_id=spec.tenant_id,
                         network_id=spec.network_id),
        L_NODE: _label("node id", spec.node_id),
        L_INDEX: str(spec.index),
        L_ROLE: "validator",
    }


def _meta(name: str, namespace: str | None, labels: dict[str, str],
          annotations: dict[str, str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": dict(labels)}
    if namespace is not None:
        meta["namespace"] = namespace
    if annotations:
        meta["annotations"] = annotations
    return meta


# --- per network -------------------------------------------------------------------------


def render_network(*, install_id: str, tenant_id: str, network_id: str, validators: int = 0,
                   control_plane_namespace: str = "baas") -> list[dict[str, Any]]:
    """Namespace, NetworkPolicy and (with validators) the PodDisruptionBudget."""
    ns = namespace_name(network_id)
    labels = network_labels(install_id=install_id, tenant_id=tenant_id, network_id=network_id)
    # Pod Security "restricted" on the namespace: the API server refuses a pod of ours that
    # would ever run privileged, as root or with extra capabilities.
    ns_labels = {**labels, "pod-security.kubernetes.io/enforce": "restricted",
                 "pod-security.kubernetes.io/warn": "restricted"}
    objs: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": _meta(ns, None, ns_labels)},
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": _meta(NETWORK_POLICY, ns, labels),
            "spec": {
                "podSelector": {},
                "policyTypes": ["Ingress"],
                "ingress": [
                    # validators of this network talk to each other on any port
                    {"from": [{"podSelector": {}}]},
                    # the control plane (gateway, reconciler, metrics scrapes) reaches RPC
                    # and CometBFT's metrics only; its namespace must carry both its name
                    # and the control-plane label
                    {"from": [{"namespaceSelector": {"matchLabels": {
                        "kubernetes.io/metadata.name": control_plane_namespace,
                        L_CONTROL_PLANE: "true"}}}],
                     "ports": [{"protocol": "TCP", "port": RPC_PORT},
                               {"protocol": "TCP", "port": METRICS_PORT}]},
                ],
            },
        },
    ]
    if validators > 0:
        objs.append({
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": _meta(PDB, ns, labels),
            "spec": {
                "minAvailable": pdb_min_available(validators),
                "selector": {"matchLabels": {L_NETWORK: network_id, L_ROLE: "validator"}},
            },
        })
    return objs


# --- per validator -----------------------------------------------------------------------


def _file_items(files: dict[str, bytes]) -> list[dict[str, str]]:
    return [{"key": file_key(p), "path": str(home_path(p))} for p in sorted(files)]


def _encoded(files: dict[str, bytes]) -> dict[str, str]:
    return {key: base64.b64encode(content).decode() for key, content in sorted(files.items())}


def _restricted() -> dict[str, Any]:
    return {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
            "runAsNonRoot": True, "capabilities": {"drop": ["ALL"]}}


def render_node(spec: NodeSpec, *, image: str, storage_gb: int = 5,
                storage_class: str | None = None, replicas: int = 1) -> list[dict[str, Any]]:
    """Service, ConfigMap, Secret and StatefulSet of one validator, in apply order (the
    StatefulSet last: its pod needs the other three)."""
    if not spec.home_files:
        raise DriverError("invalid_spec", "home_files is empty")
    # a thousandth of a CPU is the smallest quantity Kubernetes keeps (1m)
    if not 0.001 <= spec.cpu_limit <= 64 or not 64 <= spec.memory_mb <= 1024 * 1024:
        raise DriverError("invalid_spec", f"cpu_limit {spec.cpu_limit} must be in [0.001, 64] and "
                                          f"memory_mb {spec.memory_mb} in [64, 1048576]")
    if not 1 <= int(storage_gb) <= 64 * 1024:
        raise DriverError("invalid_spec", f"storage of {storage_gb} GiB is out of range")
    ns, name = namespace_name(spec.network_id), node_name(spec.index)
    labels = node_labels(spec)
    overlap = set(spec.home_files) & set(spec.secret_files)
    if overlap:
        raise DriverError("invalid_spec", f"files both in home and secret files: {sorted(overlap)}")
    metrics = spec.address.metrics_port
    # CometBFT's metrics on every pod address (the NetworkPolicy lets only the control
    # plane's namespace and the network's own pods in); idempotent, so a spec read back
    # from the cluster renders the same ConfigMap.
    home_files = instrumented(spec.home_files, listen=f":{metrics}" if metrics else None)
    service_ports = [{"name": "p2p", "port": P2P_PORT, "targetPort": P2P_PORT,
                      "protocol": "TCP"},
                     {"name": "rpc", "port": RPC_PORT, "targetPort": RPC_PORT,
                      "protocol": "TCP"}]
    container_ports = [{"name": "p2p", "containerPort": P2P_PORT, "protocol": "TCP"},
                       {"name": "rpc", "containerPort": RPC_PORT, "protocol": "TCP"}]
    if metrics:
        service_ports.append({"name": "metrics", "port": metrics, "targetPort": metrics,
                              "protocol": "TCP"})
        container_ports.append({"name": "metrics", "containerPort": metrics,
                                "protocol": "TCP"})
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(name, ns, labels),
        "spec": {
            "clusterIP": "None",
            # peers must resolve the name before the pod is ready (CometBFT only gets ready
            # once it has peers), so the address is published from the start
            "publishNotReadyAddresses": True,
            "selector": {L_NETWORK: spec.network_id, L_NODE: spec.node_id},
            "ports": service_ports,
        },
    }
    config = {file_key(p): c for p, c in home_files.items()}
    keys = {file_key(p): c for p, c in spec.secret_files.items()}
    config_map = {"apiVersion": "v1", "kind": "ConfigMap",
                  "metadata": _meta(f"{name}-home", ns, labels),
                  "binaryData": _encoded(config)}
    secret = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
              "metadata": _meta(f"{name}-keys", ns, labels),
              "data": _encoded(keys)}
    version = spec.ledger_version
    sts_labels = {**labels, L_VERSION: _label("ledger version", version)} if version else labels
    annotations = {A_REPLICAS: str(replicas), A_HOME_SHA: home_digest(config, keys),
                   A_CPU: repr(float(spec.cpu_limit)), A_MEMORY: str(int(spec.memory_mb))}
    claim_spec: dict[str, Any] = {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": quantity_bytes(int(storage_gb) * 2**30)}}}
    if storage_class:
        claim_spec["storageClassName"] = storage_class
    resources = {"cpu": quantity_cpu(spec.cpu_limit),
                 "memory": quantity_bytes(int(spec.memory_mb) * 2**20)}
    mounts = [{"name": "data", "mountPath": HOME}, {"name": "tmp", "mountPath": "/tmp"}]
    statefulset = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": _meta(name, ns, sts_labels, annotations),
        "spec": {
            "replicas": replicas,
            "serviceName": name,
            "podManagementPolicy": "Parallel",
            "selector": {"matchLabels": {L_NETWORK: spec.network_id, L_NODE: spec.node_id}},
            # deleting the StatefulSet deletes the chain data; scaling to 0 (stop) keeps it
            "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Delete",
                                                     "whenScaled": "Retain"},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "terminationGracePeriodSeconds": 30,
                    "securityContext": {
                        "runAsNonRoot": True, "runAsUser": NODE_UID, "runAsGroup": NODE_UID,
                        "fsGroup": NODE_UID, "fsGroupChangePolicy": "OnRootMismatch",
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "initContainers": [{
                        "name": "home",
                        "image": image,
                        "imagePullPolicy": "IfNotPresent",
                        "command": ["python3", "-c", init_script()],
                        "securityContext": _restricted(),
                        "resources": {"requests": {"cpu": "50m", "memory": "64Mi"},
                                      "limits": {"cpu": "200m", "memory": "128Mi"}},
                        "volumeMounts": [
                            {"name": "data", "mountPath": HOME},
                            {"name": "home-files", "mountPath": CONFIG_DIR, "readOnly": True},
                            {"name": "home-keys", "mountPath": KEYS_DIR, "readOnly": True},
                        ],
                    }],
                    "containers": [{
                        "name": "node",
                        "image": image,
                        "imagePullPolicy": "IfNotPresent",
                        # the image's entrypoint: wait for the peers' names, then
                        # `python3 -m ledger node --home /node` (chaincode host + CometBFT)
                        "env": [
                            # listen on every pod address: the home's laddr names the
                            # node's DNS name, which resolves only once the pod is published
                            {"name": "CMT_RPC_LADDR", "value": f"tcp://0.0.0.0:{RPC_PORT}"},
                            {"name": "CMT_P2P_LADDR", "value": f"tcp://0.0.0.0:{P2P_PORT}"},
                        ],
                        "ports": container_ports,
                        "readinessProbe": {"httpGet": {"path": "/status", "port": RPC_PORT},
                                           "periodSeconds": 5, "failureThreshold": 3},
                        # requests = limits: a validator is never the first to be evicted
                        "resources": {"requests": resources, "limits": resources},
                        "securityContext": _restricted(),
                        "volumeMounts": mounts,
                    }],
                    "volumes": [
                        {"name": "home-files", "configMap": {
                            "name": f"{name}-home", "defaultMode": 0o444,
                            "items": _file_items(home_files)}},
                        {"name": "home-keys", "secret": {
                            "secretName": f"{name}-keys", "defaultMode": 0o440,
                            "items": _file_items(spec.secret_files)}},
                        {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}},
                    ],
                },
            },
            "volumeClaimTemplates": [{
                "apiVersion": "v1", "kind": "PersistentVolumeClaim",
                "metadata": {"name": "data", "labels": labels},
                "spec": claim_spec,
            }],
        },
    }
    return [service, config_map, secret, statefulset]
