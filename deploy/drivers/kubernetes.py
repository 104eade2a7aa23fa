"""The Kubernetes driver: a namespace per ledger network, a StatefulSet per validator.

What it makes (rendered by ``deploy.drivers.k8s_manifests``, applied by server-side apply
under the field manager ``baas-control-plane``, so applying the same spec twice changes
nothing): namespace ``baas-<network_id>`` with NetworkPolicy ``baas-isolation`` (ingress
only from the namespace's own pods, and on RPC from the control plane's namespace) and
PodDisruptionBudget ``validators`` (``floor(2n/3)+1`` of ``n``, kept as validators come and
go); per validator ``i`` a headless Service ``node<i>`` (peers dial
``node<i>.baas-<network_id>.svc.cluster.local``), ConfigMap ``node<i>-home``, Secret
``node<i>-keys`` and StatefulSet ``node<i>`` (1 replica, the node image of the network's
pinned ledger version, a PersistentVolumeClaim ``data`` for the home and chain data). Every
object carries the ownership labels (``baas.io/install``, ``tenant``, ``network``, and
``node`` for per-node objects); everything that selects, lists or deletes goes by them.

**Node keys.** The validator and node keys are in the Secret only: never in the ConfigMap,
never in an environment variable. An init container copies them into the home on the
volume once. Their protection at rest is the cluster's encryption of Secrets at rest
(``EncryptionConfiguration`` on the API server, or the provider's KMS): that is an
explicit requirement for clusters that run networks (docs/kubernetes.md). Whoever may
read Secrets in a network's namespace may read its keys, this driver's credentials
included (``get`` on secrets, cluster-wide; never ``list``).

**What the API server alone can show.** With no kubelet, pods are never created: "running"
here is the StatefulSet's desired replicas (1), ``wait_ready`` times out naming every pod,
and logs say the pod does not run. On a real cluster the same calls report pods.

Every API call has a timeout; every client, HTTP or OS error is a ``DriverError`` (codes in
``deploy.drivers._kube_api``), ``cluster_forbidden`` naming what RBAC refused.
This module must not import Django.
"""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path
from typing import Any

from deploy.drivers import config, runtimes
from deploy.drivers import k8s_manifests as m
from deploy.drivers._files import check_id
from deploy.drivers._kube_api import KubeApi
from deploy.drivers._kube_drift import home_drift, object_drift, spec_from_live, storage_of
from deploy.drivers.base import (
    DiskUsage,
    Driver,
    DriverError,
    NodeAddress,
    NodeSpec,
    NodeState,
    OwnedResource,
    Runtime,
)
from deploy.drivers.k8s_manifests import (  # noqa: F401 -- the module's public contract
    RBAC_RULES,
    namespace_name,
    node_host,
    render_network,
    render_node,
)

ABCI_PORT = 26658  # inside the pod only: the chaincode host and CometBFT share it on loopback
DEFAULT_IMAGE = "baas/node"
POLL_S = 1.0
MIN_MINOR = 30  # Kubernetes 1.30: the oldest version the manifests are validated against
_NO_COPIES = ("the kubernetes driver does not support export, backup or restore yet: it "
              "cannot copy a node's volume")


def _number(name: str, value: Any, default: float, kind: type = float) -> Any:
    raw = config.setting(name) if value is None else value
    if raw in (None, ""):
        return kind(default)
    try:
        number = kind(raw)
    except (TypeError, ValueError):
        raise DriverError("invalid_spec", f"{name} must be a number, not {raw!r}") from None
    if number <= 0:
        raise DriverError("invalid_spec", f"{name} must be positive, not {raw!r}")
    return number


class KubernetesDriver(Driver):
    name = "kubernetes"

    def __init__(
        self,
        *,
        kubeconfig: dict | str | None = None,
        context: str | None = None,
        in_cluster: bool | None = None,
        install_id: str | None = None,
        image: str | None = None,
        timeout: float = 30.0,
        ready_timeout: float | None = None,
        storage_class: str | None = None,
        storage_gb: int | None = None,
        control_plane_namespace: str | None = None,
    ):
        # A path (or a parsed dict from a registered cluster), never kubeconfig text in a
        # setting: a file can be a mounted Secret, and its content never reaches a log.
        self.kubeconfig = kubeconfig if kubeconfig else config.setting("BAAS_KUBE_KUBECONFIG")
        self.context = context or config.setting("BAAS_KUBE_CONTEXT") or None
        self.in_cluster = in_cluster
        self.install_id = install_id or config.install_id()
        self.image = image or config.setting("BAAS_KUBE_NODE_IMAGE") or DEFAULT_IMAGE
        self.timeout = float(timeout)
        self.ready_timeout = _number("BAAS_KUBE_READY_TIMEOUT", ready_timeout, 300.0)
        # None: the platform's setting; "" (a registered cluster): that cluster's default.
        self.storage_class = (config.setting("BAAS_KUBE_STORAGE_CLASS")
                              if storage_class is None else storage_class) or None
        self.storage_gb = _number("BAAS_KUBE_STORAGE_GB", storage_gb, 5, int)
        self.control_plane_namespace = (control_plane_namespace
                                        or config.setting("BAAS_KUBE_CONTROL_PLANE_NAMESPACE")
                                        or "baas")
        self._api: KubeApi | None = None

    # --- plumbing ------------------------------------------------------------------------

    @property
    def api(self) -> KubeApi:
        """The client, made on first use (so the registry can list the driver without a
        cluster); the kubeconfig is read then, and its errors are driver_unavailable."""
        if self._api is None:
            self._api = KubeApi(self._client(), timeout=self.timeout)
        return self._api

    def _client(self) -> Any:
        from kubernetes import client as k8s
        from kubernetes import config as kube_config
        from kubernetes.config.config_exception import ConfigException

        cfg = k8s.Configuration()
        if isinstance(self.kubeconfig, str) and ("\n" in self.kubeconfig
                                                 or "apiVersion" in self.kubeconfig):
            # Content where a path belongs: refused without echoing it (it holds credentials).
            raise DriverError("invalid_spec", "BAAS_KUBE_KUBECONFIG must be the path of a "
                                              "kubeconfig file, not its content")
        try:
            if isinstance(self.kubeconfig, dict):
                kube_config.load_kube_config_from_dict(
                    self.kubeconfig, context=self.context, client_configuration=cfg,
                    persist_config=False)
            elif self.kubeconfig:
                kube_config.load_kube_config(
                    config_file=str(self.kubeconfig), context=self.context,
                    client_configuration=cfg, persist_config=False)
            elif self.in_cluster or (self.in_cluster is None
                                     and os.environ.get("KUBERNETES_SERVICE_HOST")):
                kube_config.load_incluster_config(client_configuration=cfg)
            else:
                raise DriverError("driver_unavailable",
                                  "no cluster configured: set BAAS_KUBE_KUBECONFIG to a "
                                  "kubeconfig file, or run the control plane in a pod")
        except (ConfigException, OSError, ValueError, KeyError, TypeError) as exc:
            # The message names what is wrong (a missing context, an unreadable file), never
            # the credentials themselves.
            raise DriverError("driver_unavailable",
                              f"cannot load the cluster configuration: {exc}") from exc
        # No silent retries: a down API server fails within the timeout and the caller (a
        # task, the reconciler's next pass) decides when to try again.
        cfg.retries = False
        client = k8s.ApiClient(cfg)
        _forget_credential_files(cfg, client)
        return client

    def _owned(self, obj: dict[str, Any] | None, network_id: str) -> bool:
        labels = ((obj or {}).get("metadata") or {}).get("labels") or {}
        return (labels.get(m.L_INSTALL) == self.install_id
                and labels.get(m.L_NETWORK) == network_id)

    def _node_selector(self, node_id: str) -> str:
        return f"{m.L_INSTALL}={self.install_id},{m.L_NODE}={check_id('node id', node_id)}"

    def _statefulset(self, network_id: str, node_id: str) -> dict[str, Any] | None:
        """The node's StatefulSet, found by its labels (the index is not known here)."""
        found = self.api.list("StatefulSet", namespace_name(network_id),
                              selector=self._node_selector(node_id))
        return found[0] if found else None

    def _image(self, version: str) -> str:
        return m.image_for(self.image, runtimes.check_version(version))

    # --- planning ------------------------------------------------------------------------

    def plan_node(self, *, network_id: str, index: int) -> NodeAddress:
        # Every pod has its own network namespace: the same ports, a DNS name per node.
        return NodeAddress(host=node_host(network_id, index), p2p_port=m.P2P_PORT,
                           rpc_port=m.RPC_PORT, abci_port=ABCI_PORT,
                           metrics_port=m.METRICS_PORT)

    def plan_network(self, *, network_id: str, validators: int) -> list[NodeAddress]:
        if validators < 1:
            raise DriverError("invalid_spec", "a network needs at least one validator")
        return [self.plan_node(network_id=network_id, index=i) for i in range(validators)]

    def prepare_network(self, *, install_id: str, tenant_id: str, network_id: str) -> None:
        objs = render_network(install_id=install_id, tenant_id=tenant_id,
                              network_id=network_id,
                              control_plane_namespace=self.control_plane_namespace)
        ns = self.api.get("Namespace", objs[0]["metadata"]["name"])
        if ns is not None:
            labels = ns["metadata"].get("labels") or {}
            if labels.get(m.L_INSTALL) != install_id or labels.get(m.L_TENANT) != str(tenant_id):
                raise DriverError("name_conflict", f"namespace {ns['metadata']['name']} exists "
                                  "but is not labelled as this install's and tenant's network")
            if ns["metadata"].get("deletionTimestamp"):
                raise DriverError("driver_error", f"namespace {ns['metadata']['name']} is "
                                  "still being deleted; try again once it is gone")
        for obj in objs:
            self.api.apply(obj)

    def ensure_runtime(self, version: str) -> Runtime:
        """The image reference of ``version``. The driver cannot see a cluster's registry:
        whether the image is there shows only when a pod pulls it (``ErrImagePull`` in the
        node's detail). Push it with the tag ``scripts/build-node-image.sh`` gives it."""
        image = self._image(version)
        return Runtime(version=version, ref=image,
                       detail=f"image {image} (pulled by the cluster; not checked here)")

    # --- node lifecycle ------------------------------------------------------------------

    def apply_node(self, spec: NodeSpec) -> NodeState:
        return self._apply_node(spec, keep_replicas=False)

    def repair_node(self, spec: NodeSpec) -> NodeState:
        """``apply_node`` for drift repair: puts back what the driver made but keeps the
        replica count it last set (``baas.io/replicas``), so a repair never starts a node
        that a stop scaled to 0."""
        return self._apply_node(spec, keep_replicas=True)

    def _apply_node(self, spec: NodeSpec, *, keep_replicas: bool) -> NodeState:
        version = spec.ledger_version or runtimes.current_version()
        spec = dataclasses.replace(spec, ledger_version=version)
        image = self._image(version)
        storage = (self.storage_gb, self.storage_class)
        objs = render_node(spec, image=image, storage_gb=storage[0], storage_class=storage[1])
        ns, name = namespace_name(spec.network_id), m.node_name(spec.index)
        live = self.api.get("StatefulSet", name, ns)
        if live is not None:
            labels = live["metadata"].get("labels") or {}
            if not self._owned(live, spec.network_id) or labels.get(m.L_NODE) != spec.node_id:
                raise DriverError("name_conflict", f"StatefulSet {name} in {ns} exists but is "
                                  f"not labelled as node {spec.node_id} of this install")
            running = int(live["spec"].get("replicas") or 0) > 0
            if labels.get(m.L_VERSION, "") != version and running:
                raise DriverError(
                    "runtime_mismatch",
                    f"node {spec.node_id} runs ledger {labels.get(m.L_VERSION) or 'unknown'}, "
                    f"not {version}; stop it before moving it to another version")
            # The claim template cannot change: keep the size and class it was made with.
            storage = storage_of(live)
            replicas = 1
            if keep_replicas:
                notes = live["metadata"].get("annotations") or {}
                recorded = str(notes.get(m.A_REPLICAS, ""))
                replicas = m.whole_number(recorded, int(live["spec"].get("replicas") or 0))
            objs = render_node(spec, image=image, storage_gb=storage[0],
                               storage_class=storage[1], replicas=replicas)
        # The namespace and the network-wide objects are the owner's, also when a
        # consortium member's validator is applied.
        self.prepare_network(install_id=spec.install_id, tenant_id=spec.owner_tenant_id,
                             network_id=spec.network_id)
        # The home files are applied every time (the same bytes: nothing changes), but the
        # init container writes them into the home only once, so keys and the validator's
        # signing state on the volume are never overwritten.
        for obj in objs:
            self.api.apply(obj)
        self._sync_pdb(spec.network_id, spec.install_id, spec.owner_tenant_id)
        return self.inspect_node(network_id=spec.network_id, node_id=spec.node_id)

    def _sync_pdb(self, network_id: str, install_id: str, tenant_id: str) -> None:
        """The PodDisruptionBudget follows the number of validators (none: no budget)."""
        ns = namespace_name(network_id)
        count = len(self.api.list("StatefulSet", ns, selector=f"{m.L_INSTALL}={install_id},"
                                                             f"{m.L_ROLE}=validator"))
        objs = render_network(install_id=install_id, tenant_id=tenant_id,
                              network_id=network_id, validators=count,
                              control_plane_namespace=self.control_plane_namespace)
        if count:
            self.api.apply(objs[-1])
        else:
            self.api.delete("PodDisruptionBudget", m.PDB, ns)

    def _scale(self, sts: dict[str, Any], replicas: int) -> None:
        meta = sts["metadata"]
        # A merge patch of two fields, not an apply: stop and start do not have the spec,
        # and a partial apply would drop every field it leaves out.
        self.api.merge_patch("StatefulSet", meta["name"], meta["namespace"], {
            "metadata": {"annotations": {m.A_REPLICAS: str(replicas)}},
            "spec": {"replicas": replicas}})

    def stop_node(self, *, network_id: str, node_id: str) -> None:
        sts = self._statefulset(network_id, node_id)
        if sts is not None and self._owned(sts, network_id):
            self._scale(sts, 0)  # the pod goes (SIGTERM, grace period), the volume stays

    def start_node(self, *, network_id: str, node_id: str) -> NodeState:
        sts = self._statefulset(network_id, node_id)
        if sts is None or not self._owned(sts, network_id):
            raise DriverError("node_not_found",
                              f"node {node_id} of network {network_id} has no StatefulSet")
        if int(sts["spec"].get("replicas") or 0) < 1:
            self._scale(sts, 1)
        return self.inspect_node(network_id=network_id, node_id=node_id)

    def delete_node(self, *, network_id: str, node_id: str) -> None:
        """The keys Secret goes first: a delete interrupted at any later step leaves
        objects the next delete (or the reconciler's clean-up of leftovers) finds by label,
        never a node's private keys with nothing left to find them by."""
        ns = namespace_name(network_id)
        selector = self._node_selector(node_id)
        found: list[tuple[str, dict[str, Any]]] = []
        indexes: set[int] = set()
        for kind in ("StatefulSet", "Service", "ConfigMap"):
            for obj in self.api.list(kind, ns, selector=selector):
                if self._owned(obj, network_id):
                    index = m.node_index(obj["metadata"].get("name"))
                    if index is not None:
                        indexes.add(index)
                    found.append((kind, obj))
        for obj in self.api.list("PersistentVolumeClaim", ns, selector=selector):
            if self._owned(obj, network_id):  # named by the StatefulSet (data-node3-0)
                found.append(("PersistentVolumeClaim", obj))
        # Secrets are not listable with the driver's rights: found by name, checked by label.
        for index in sorted(indexes):
            name = f"{m.node_name(index)}-keys"
            secret = self.api.get("Secret", name, ns)
            if secret is not None and self._owned(secret, network_id) and (
                    (secret["metadata"].get("labels") or {}).get(m.L_NODE) == node_id):
                self.api.delete("Secret", name, ns)
        for kind, obj in found:
            self.api.delete(kind, obj["metadata"]["name"], ns)
        namespace = self.api.get("Namespace", ns)
        if indexes and namespace is not None and self._owned(namespace, network_id):
            tenant = namespace["metadata"]["labels"].get(m.L_TENANT, "")
            self._sync_pdb(network_id, self.install_id, tenant)

    def node_ids(self, *, network_id: str) -> set[str]:
        """Every node id that still has an object of this install in the network's
        namespace (StatefulSet, Service, ConfigMap or claim): the reconciler deletes those
        the database no longer knows instead of re-applying them."""
        ns = namespace_name(network_id)
        ids: set[str] = set()
        for kind in ("StatefulSet", "Service", "ConfigMap", "PersistentVolumeClaim"):
            for obj in self.api.list(kind, ns, selector=f"{m.L_INSTALL}={self.install_id}"):
                labels = obj["metadata"].get("labels") or {}
                if self._owned(obj, network_id) and labels.get(m.L_NODE):
                    ids.add(labels[m.L_NODE])
        return ids

    def disk_usage(self, *, network_id: str) -> DiskUsage | None:
        """The storage the network's claims REQUEST (``kind="requested"``): what the
        volumes hold is the kubelet's to tell, and the control plane does not ask it. None
        when the network has no claim of ours."""
        ns = namespace_name(network_id)
        total, found = 0, False
        for claim in self.api.list("PersistentVolumeClaim", ns,
                                   selector=f"{m.L_INSTALL}={self.install_id}"):
            if not self._owned(claim, network_id):
                continue
            asked = str((((claim.get("spec") or {}).get("resources") or {}).get("requests")
                         or {}).get("storage", ""))
            size = m.quantity_to_bytes(asked)
            if size is None:
                return None  # a quantity we cannot read: no figure rather than a wrong one
            total, found = total + size, True
        return DiskUsage(bytes=total, kind="requested") if found else None

    def delete_network(self, *, network_id: str) -> None:
        """Deletes the namespace (the API server then deletes everything in it) and waits
        until it is gone: a network id is never reused while its objects linger."""
        ns = namespace_name(network_id)
        found = self.api.get("Namespace", ns)
        if found is None or not self._owned(found, network_id):
            return  # gone already, or not ours: never touched
        self.api.delete("Namespace", ns)
        deadline = time.monotonic() + self.ready_timeout
        while self.api.get("Namespace", ns) is not None:
            if time.monotonic() >= deadline:
                raise DriverError("driver_timeout", f"namespace {ns} is still being deleted "
                                  f"after {self.ready_timeout:g}s (finalizers pending?)")
            time.sleep(POLL_S)

    # --- observation ---------------------------------------------------------------------

    def inspect_node(self, *, network_id: str, node_id: str) -> NodeState:
        sts = self._statefulset(network_id, node_id)
        index = None if sts is None else m.node_index(sts["metadata"].get("name"))
        if sts is None or index is None or not self._owned(sts, network_id):
            return NodeState(node_id=node_id, exists=False, running=False, rpc_url=None,
                             detail="no StatefulSet")
        labels = sts["metadata"].get("labels") or {}
        running = int(sts["spec"].get("replicas") or 0) > 0
        pod = self._pod(sts)
        # The StatefulSet only says whether the node has a metrics listener; the port is
        # the planned one (every pod listens on METRICS_PORT), never what a live object
        # (editable by whoever runs a tenant's cluster) declares.
        has_metrics = m.metrics_port_of(sts) > 0
        return NodeState(
            node_id=node_id, exists=True, running=running,
            metrics_url=(f"http://{node_host(network_id, index)}:{m.METRICS_PORT}"
                         if running and has_metrics else None),
            # reachable from inside the cluster, where the control plane runs
            rpc_url=f"http://{node_host(network_id, index)}:{m.RPC_PORT}" if running else None,
            detail=pod_detail(sts, pod, running),
            restart_count=sum(int(c.get("restartCount") or 0)
                              for c in ((pod or {}).get("status") or {})
                              .get("containerStatuses") or []),
            ledger_version=labels.get(m.L_VERSION, ""),
        )

    def _pod(self, sts: dict[str, Any]) -> dict[str, Any] | None:
        meta = sts["metadata"]
        return self.api.get("Pod", f"{meta['name']}-0", meta["namespace"])

    def logs(self, *, network_id: str, node_id: str, tail: int = 200) -> str:
        sts = self._statefulset(network_id, node_id)
        if sts is None or not self._owned(sts, network_id):
            raise DriverError("node_not_found",
                              f"node {node_id} of network {network_id} has no StatefulSet")
        pod = self._pod(sts)
        statuses = ((pod or {}).get("status") or {}).get("containerStatuses") or []
        if pod is None or not any(_has_run(status) for status in statuses):
            running = int(sts["spec"].get("replicas") or 0) > 0
            return f"[baas] no logs: {pod_detail(sts, pod, running)}\n"
        meta = pod["metadata"]
        try:
            return self.api.request(
                "GET", f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}/log",
                query=[("container", "node"), ("tailLines", str(max(0, int(tail))))],
                text=True, action=f"read the logs of pod {meta['name']}")
        except DriverError as exc:
            # a container waiting to start (400), the pod or its node gone meanwhile (404)
            if exc.code == "not_found" or (exc.code == "driver_error" and "HTTP 400"
                                           in exc.message):
                return f"[baas] no logs: {exc.message}\n"
            raise

    def list_owned(self, *, install_id: str) -> list[OwnedResource]:
        """Namespaces, StatefulSets, Services, ConfigMaps and claims of ``install_id`` only:
        selected by the install label on the server, and checked again here."""
        selector = f"{m.MANAGED_BY}=baas,{m.L_INSTALL}={install_id}"
        owned: list[OwnedResource] = []
        for kind in ("Namespace", "StatefulSet", "Service", "ConfigMap", "PersistentVolumeClaim"):
            for obj in self.api.list(kind, selector=selector):
                meta = obj["metadata"]
                labels = meta.get("labels") or {}
                if labels.get(m.L_INSTALL) != install_id:
                    continue
                name = f"{meta['namespace']}/{meta['name']}" if meta.get("namespace") \
                    else meta["name"]
                owned.append(OwnedResource(kind.lower(), name, labels.get(m.L_NETWORK),
                                           labels.get(m.L_NODE)))
        return owned

    # Export, backup and restore read and write a node's volume directly; on a cluster that
    # needs a copy pod per volume, which is not built yet (docs/backup.md).
    def export_node_home(self, *, network_id: str, node_id: str, dest: Path) -> None:
        raise DriverError("driver_not_implemented", _NO_COPIES)

    def import_node(self, spec: NodeSpec, source: Path) -> NodeState:
        raise DriverError("driver_not_implemented", _NO_COPIES)

    def ledger_source(self, version: str, dest: Path) -> None:
        raise DriverError("driver_not_implemented", _NO_COPIES)

    def check(self) -> None:
        """The API server answers, is a Kubernetes the manifests were validated for (1.30
        or newer), and these credentials may do everything in RBAC_RULES (a
        SelfSubjectAccessReview per verb and resource): ``cluster_forbidden`` names the
        first thing refused."""
        info = self.api.request("GET", "/version", action="read the API server's version")
        minor = "".join(c for c in str(info.get("minor", "")) if c.isdigit())  # "30+" on EKS
        if str(info.get("major")) != "1" or not minor or int(minor) < MIN_MINOR:
            raise DriverError("driver_unavailable",
                              f"the cluster runs Kubernetes {info.get('gitVersion', '?')}; the "
                              f"driver needs 1.{MIN_MINOR} or newer")
        for rule in RBAC_RULES:
            for resource in rule["resources"]:
                plural, _, sub = resource.partition("/")
                for verb in rule["verbs"]:
                    review = {"apiVersion": "authorization.k8s.io/v1",
                              "kind": "SelfSubjectAccessReview",
                              "spec": {"resourceAttributes": {
                                  "group": rule["apiGroups"][0], "resource": plural,
                                  "subresource": sub, "verb": verb}}}
                    answer = self.api.request(
                        "POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
                        body=review, content_type="application/json",
                        action="review the driver's rights")
                    if not (answer.get("status") or {}).get("allowed"):
                        raise DriverError(
                            "cluster_forbidden",
                            f"these credentials may not {verb} {resource} (API group "
                            f"{rule['apiGroups'][0] or 'core'!r}) cluster-wide; bind a "
                            "ClusterRole with the driver's RBAC_RULES (see docs/kubernetes.md)")

    def version(self) -> str:
        """The API server's version, e.g. ``v1.34.2``."""
        info = self.api.request("GET", "/version", action="read the API server's version")
        return str(info.get("gitVersion", ""))

    # --- beyond the Driver interface: drift and readiness --------------------------------

    def drift(self, *, network_id: str) -> list[str]:
        """Human-readable differences between what this driver applied to the network and
        what the cluster holds now (empty: none). A re-apply of the network's nodes
        (``apply_node``) repairs every item."""
        ns_name = namespace_name(network_id)
        ns = self.api.get("Namespace", ns_name)
        if ns is None:
            return [f"Namespace {ns_name} is missing"]
        if not self._owned(ns, network_id):
            return [f"Namespace {ns_name} is not labelled as this install's network"]
        tenant = (ns["metadata"].get("labels") or {}).get(m.L_TENANT, "")
        own = f"{m.L_INSTALL}={self.install_id}"
        stss = {s["metadata"]["labels"].get(m.L_NODE): s
                for s in self.api.list("StatefulSet", ns_name, selector=own)}
        items: list[str] = []
        for obj in render_network(install_id=self.install_id, tenant_id=tenant,
                                  network_id=network_id, validators=len(stss),
                                  control_plane_namespace=self.control_plane_namespace):
            live = ns if obj["kind"] == "Namespace" else self.api.get(
                obj["kind"], obj["metadata"]["name"], ns_name)
            items += object_drift(obj, live)
        # A node whose StatefulSet was deleted is still known by what is left of it.
        for kind in ("Service", "ConfigMap"):
            for obj in self.api.list(kind, ns_name, selector=f"{own},{m.L_ROLE}=validator"):
                labels = obj["metadata"]["labels"]
                if labels.get(m.L_NODE) not in stss:
                    items.append(f"StatefulSet node{labels.get(m.L_INDEX, '?')} of node "
                                 f"{labels.get(m.L_NODE)} is missing")
        for _node_id, sts in sorted(stss.items(), key=lambda kv: str(kv[0])):
            items += self._node_drift(sts)
        return list(dict.fromkeys(items))  # once each, in the order found

    def _node_drift(self, sts: dict[str, Any]) -> list[str]:
        meta = sts["metadata"]
        ns, name = meta["namespace"], meta["name"]
        config_map = self.api.get("ConfigMap", f"{name}-home", ns)
        secret = self.api.get("Secret", f"{name}-keys", ns)
        spec = spec_from_live(sts, config_map, secret)
        version = spec.ledger_version or runtimes.current_version()
        gb, storage_class = storage_of(sts)
        replicas = m.whole_number((meta.get("annotations") or {}).get(m.A_REPLICAS), 1)
        desired = render_node(spec, image=self._image(version), storage_gb=gb,
                              storage_class=storage_class, replicas=replicas)
        live = {"Service": self.api.get("Service", name, ns), "ConfigMap": config_map,
                "Secret": secret, "StatefulSet": sts}
        items: list[str] = []
        for obj in desired:
            if obj["kind"] == "StatefulSet":
                # what it records about itself cannot drift against itself
                obj["metadata"]["annotations"].pop(m.A_HOME_SHA, None)
            items += object_drift(obj, live[obj["kind"]])
        return items + home_drift(sts, config_map, secret)

    def wait_ready(self, *, network_id: str, node_ids: list[str],
                   timeout: float | None = None) -> None:
        """Until every node's pod is Ready (its RPC answers /status), or
        ``driver_timeout`` naming the pods that are not."""
        limit = self.ready_timeout if timeout is None else float(timeout)
        deadline = time.monotonic() + limit
        while True:
            waiting = []
            for node_id in node_ids:
                sts = self._statefulset(network_id, node_id)
                pod = self._pod(sts) if sts is not None else None
                if not pod_ready(pod):
                    name = f"{sts['metadata']['name']}-0" if sts else f"node {node_id}"
                    why = pod_detail(sts, pod, True) if sts else "no StatefulSet"
                    waiting.append(f"{name} ({why})")
            if not waiting:
                return
            if time.monotonic() >= deadline:
                raise DriverError("driver_timeout", f"pods not ready after {limit:g}s: "
                                  + "; ".join(waiting))
            time.sleep(POLL_S)


def _forget_credential_files(cfg: Any, client: Any) -> None:
    """The client writes inline credentials of a kubeconfig (``certificate-authority-data``,
    ``client-certificate-data``, ``client-key-data``: a registered cluster's decrypted ones)
    to temporary files and keeps them until the process exits. Read them into the client's
    own TLS context here and delete them at once: no private key stays on disk. Files a
    kubeconfig names by path are the operator's and are left alone."""
    import ssl

    from kubernetes.config import kube_config
    from urllib3.util.ssl_ import create_urllib3_context

    temp = {path: key for key, path in kube_config._temp_files.items()}
    ours = [p for p in (cfg.ssl_ca_cert, cfg.cert_file, cfg.key_file) if p and p in temp]
    if not ours:
        return
    kw = client.rest_client.pool_manager.connection_pool_kw
    if cfg.cert_file or cfg.key_file:
        context = create_urllib3_context(
            cert_reqs=ssl.CERT_REQUIRED if cfg.verify_ssl else ssl.CERT_NONE)
        context.load_cert_chain(cfg.cert_file, cfg.key_file)
        kw["ssl_context"] = context
        kw["cert_file"] = kw["key_file"] = None
    if cfg.ssl_ca_cert in temp:
        with open(cfg.ssl_ca_cert, encoding="ascii", errors="replace") as ca:
            kw["ca_cert_data"] = ca.read()
        kw["ca_certs"] = None
    for path in ours:
        kube_config._temp_files.pop(temp[path], None)
        try:
            os.remove(path)
        except OSError:
            pass


def _has_run(container_status: dict[str, Any]) -> bool:
    """The container runs or ran: the kubelet has logs of it (a crashed one's included)."""
    state = container_status.get("state") or {}
    last = container_status.get("lastState") or {}
    return "running" in state or "terminated" in state or "terminated" in last


def pod_ready(pod: dict[str, Any] | None) -> bool:
    conditions = ((pod or {}).get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def pod_detail(sts: dict[str, Any], pod: dict[str, Any] | None, running: bool) -> str:
    """Why a node is (not) serving, in words: scaled down, no pod yet (no kubelet or no
    controller), not scheduled, a container waiting (ErrImagePull, CrashLoopBackOff)."""
    name = f"{sts['metadata']['name']}-0"
    if not running:
        return f"StatefulSet {sts['metadata']['name']} scaled to 0 (stopped)"
    if pod is None:
        return f"pod {name} not created yet"
    status = pod.get("status") or {}
    for cond in status.get("conditions") or []:
        if cond.get("type") == "PodScheduled" and cond.get("status") == "False":
            return f"pod {name} not scheduled: {cond.get('message') or cond.get('reason')}"
    for container in status.get("initContainerStatuses", []) + status.get("containerStatuses", []):
        waiting = (container.get("state") or {}).get("waiting")
        if waiting and waiting.get("reason") not in (None, "PodInitializing"):
            return (f"pod {name} container {container.get('name')} waiting: "
                    f"{waiting.get('reason')} {waiting.get('message') or ''}").strip()
    ready = "ready" if pod_ready(pod) else "not ready"
    return f"pod {name} {status.get('phase', 'Unknown').lower()}, {ready}"
