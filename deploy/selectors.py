"""Reads of networks and nodes, always scoped to a tenant."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db.models import Count, QuerySet
from django.utils.translation import gettext as _

from baas.errors import AppError, Conflict, NotFound, ValidationFailed
from deploy import conf, crypto
from deploy.choices import NetworkStatus, NodeStatus
from deploy.drivers import DriverError, config, registry
from deploy.drivers import kubeconfig as kc
from deploy.errors import driver_app_error
from deploy.models import Cluster, Network, Node


def ledger_upgrade_offer(*, network: Network) -> str:
    """The ledger version a running network could be upgraded to (the control plane's
    current one), or "" when it runs that already or is not running."""
    from deploy.drivers.runtimes import current_version

    if network.status != NetworkStatus.RUNNING:
        return ""
    try:
        current = current_version()
    except DriverError:
        return ""
    return current if current != network.ledger_version else ""


def network_queryset(*, tenant: Any) -> QuerySet[Network]:
    """Networks ``tenant`` may read: its own and those it joined as a consortium member.
    Writes check ownership (or the member's role) in the services."""
    return Network.objects.reachable_by(tenant)


def network_list(*, tenant: Any, filters: dict[str, Any] | None = None) -> QuerySet[Network]:
    """The tenant's networks and those it is a member of, newest first; deleted ones only
    when asked for by status."""
    filters = filters or {}
    # The owner's slug is on every row (``NetworkSerializer.owner``): one join, not a query each.
    qs = network_queryset(tenant=tenant).select_related("tenant")
    wanted = filters.get("status")
    if wanted:
        return qs.filter(status=wanted)
    return qs.exclude(status=NetworkStatus.DELETED)


def network_get(*, tenant: Any, network_id: Any) -> Network:
    """One network of ``tenant``; anything else (other tenant, bad id) is 404."""
    try:
        uuid.UUID(str(network_id))
    except ValueError:
        raise NotFound("not_found", "Network not found.") from None
    network = network_queryset(tenant=tenant).filter(pk=network_id).first()
    if network is None:
        raise NotFound("not_found", "Network not found.")
    return network


def node_list(*, tenant: Any, network: Network) -> QuerySet[Node]:
    # ``network`` came from ``network_get``, so ``tenant`` may read it (owner or member).
    if not network_queryset(tenant=tenant).filter(pk=network.pk).exists():
        return Node.objects.none()
    return (
        Node.objects.filter(network=network)
        .exclude(status=NodeStatus.DELETED)
        .select_related("network", "tenant")
        .order_by("index")
    )


def node_get(*, tenant: Any, network: Network, node_id: Any) -> Node:
    try:
        uuid.UUID(str(node_id))
    except ValueError:
        raise NotFound("not_found", "Node not found.") from None
    node = node_list(tenant=tenant, network=network).filter(pk=node_id).first()
    if node is None:
        raise NotFound("not_found", "Node not found.")
    return node


def networks_pending_approval() -> QuerySet[Network]:
    """Every tenant's networks waiting for platform staff, oldest first (staff only)."""
    return (
        Network.objects.filter(status=NetworkStatus.PENDING_APPROVAL)
        .select_related("tenant", "created_by")
        .order_by("created_at")
    )


def node_logs(*, node: Node, tail: int) -> str:
    """The last ``tail`` log lines of a node ("" when its runtime has none yet)."""
    try:
        return registry.driver_for(node.network).logs(
            network_id=str(node.network_id), node_id=str(node.pk), tail=tail)
    except DriverError as exc:
        if exc.code == "node_not_found":
            return ""
        raise driver_app_error(exc) from None


def node_host_metrics(*, node: Node) -> bytes:
    """The node's own chaincode-host figures in Prometheus' text format (query path
    ``/metrics`` of ``ledger/metrics.py``), from that node itself: no failover, the figures
    are per node."""
    from ledger.client import ClientTimeout, ConnectionFailed, LedgerClient, QueryFailed
    from ledger.errors import Code

    unreachable = _node_unreachable()
    if not node.rpc_url:
        raise unreachable
    client = LedgerClient(node.rpc_url, timeout=float(conf.setting("DEPLOY_GATEWAY_TIMEOUT_S")))
    try:
        return client.query("/metrics").value
    except QueryFailed as exc:
        if exc.code == Code.BAD_QUERY:  # a ledger version from before /metrics
            raise Conflict("metrics_upgrade_needed",
                           _("This node runs a ledger version without metrics; upgrade the "
                             "network to read them.")) from None
        raise unreachable from None
    except (ConnectionFailed, ClientTimeout):
        raise unreachable from None
    finally:
        client.close()


METRICS_MAX_BYTES = 4 * 1024 * 1024  # a scrape answer above this is refused, not relayed
METRICS_SOURCES = ("host", "cometbft", "all")


def _node_unreachable() -> AppError:
    return AppError("node_unreachable", _("This node did not answer; it may be stopped or "
                                          "starting."), status=503)


def node_cometbft_metrics(*, node: Node) -> bytes:
    """CometBFT's own Prometheus metrics of the node (``cometbft_*``: consensus, peers,
    mempool), read server-side from the node's metrics listener through its driver, with
    the gateway's timeout and a size cap."""
    from deploy import rpc

    unavailable = Conflict(
        "cometbft_metrics_unavailable",
        _("This node was created before CometBFT metrics were turned on and has no metrics "
          "listener. Validators added and networks created or restored from now on have "
          "one."))
    if not node.metrics_port:
        raise unavailable
    try:
        state = registry.driver_for(node.network).inspect_node(
            network_id=str(node.network_id), node_id=str(node.pk))
    except DriverError as exc:
        raise driver_app_error(exc) from None
    if not state.running:
        raise _node_unreachable()
    if not state.metrics_url:
        raise unavailable
    timeout = float(conf.setting("DEPLOY_GATEWAY_TIMEOUT_S"))
    try:
        return rpc.get_capped(state.metrics_url.rstrip("/") + "/metrics", timeout=timeout,
                              limit=METRICS_MAX_BYTES)
    except rpc.ResponseTooLarge:
        raise AppError("metrics_too_large",
                       _("This node's metrics are larger than the platform relays."),
                       status=502) from None
    except rpc.RpcError:
        raise _node_unreachable() from None


def node_metrics(*, node: Node, source: str) -> bytes:
    """The node's metrics of ``source``: ``host`` (the chaincode host's, the default),
    ``cometbft`` (CometBFT's own) or ``all`` (both, one exposition: their metric names
    never overlap: ``ledger_*``; ``cometbft_*`` with ``go_*``, ``process_*``,
    ``promhttp_*``)."""
    if source not in METRICS_SOURCES:
        raise ValidationFailed("invalid_source",
                               _("source is one of: host, cometbft, all."),
                               details={"source": str(source)[:40]})
    if source == "host":
        return node_host_metrics(node=node)
    if source == "cometbft":
        return node_cometbft_metrics(node=node)
    host = node_host_metrics(node=node)
    return host + (b"" if host.endswith(b"\n") or not host else b"\n") \
        + node_cometbft_metrics(node=node)


# --- clusters ---------------------------------------------------------------------------------


def cluster_list(*, tenant: Any) -> QuerySet[Cluster]:
    """The tenant's own clusters and the platform's (which any network may run on)."""
    return Cluster.objects.usable_by(tenant).select_related("tenant")


def cluster_get(*, tenant: Any, cluster_id: Any) -> Cluster:
    """One cluster ``tenant`` may see; another tenant's, or a bad id, is 404."""
    try:
        uuid.UUID(str(cluster_id))
    except ValueError:
        raise NotFound("not_found", _("Cluster not found.")) from None
    cluster = cluster_list(tenant=tenant).filter(pk=cluster_id).first()
    if cluster is None:
        raise NotFound("not_found", _("Cluster not found."))
    return cluster


def cluster_in_use(*, cluster: Cluster) -> QuerySet[Network]:
    """Networks that still need ``cluster``: every one not deleted (a network being deleted
    needs it to remove its namespace)."""
    return Network.objects.filter(cluster=cluster).exclude(status=NetworkStatus.DELETED)


# Driver options for every registered cluster (see ``cluster_driver_options``).
# "": no storageClassName, the cluster's default StorageClass (``KubernetesDriver`` falls
# back to BAAS_KUBE_STORAGE_CLASS only for None, the platform's own cluster).
CLUSTER_STORAGE_CLASS = ""
CLUSTER_CONTROL_PLANE_NAMESPACE = "baas"  # the driver's built-in default


def cluster_driver_options(
    network: Any,
) -> tuple[str, str, Callable[[], dict[str, Any]]] | None:
    """How ``registry.driver_for`` builds the driver of a network on a registered cluster
    (installed by ``deploy.apps``): one driver per cluster, rebuilt when its sealed
    kubeconfig changes. None: the driver's defaults (the platform's own cluster).

    A tenant's cluster serves only that tenant's networks; the services never attach one
    to another tenant's network, and this refuses it again in case a row says otherwise.
    """
    if network.driver != "kubernetes" or not getattr(network, "cluster_id", None):
        return None
    cluster = (Cluster.objects.filter(pk=network.cluster_id)
               .only("id", "tenant_id", "sealed_kubeconfig").first())
    if cluster is None:
        raise DriverError("driver_unavailable", "the network's cluster is no longer registered")
    if cluster.tenant_id is not None and cluster.tenant_id != network.tenant_id:
        raise DriverError("cluster_not_allowed",
                          "this cluster belongs to another organisation than the network")
    sealed = bytes(cluster.sealed_kubeconfig)
    install_id = config.install_id()
    # Every option the driver takes, given explicitly: the platform's BAAS_KUBE_* settings
    # describe the platform's own cluster (its context, storage class, the namespace the
    # control plane runs in) and must not leak into a registered one. What is shared on
    # purpose (the node image, the readiness and storage sizes, the API timeout: how the
    # platform runs nodes anywhere) is read here and is part of the cache version, so a
    # changed setting rebuilds the driver.
    shared = {
        "image": config.setting("BAAS_KUBE_NODE_IMAGE") or None,
        "ready_timeout": config.setting("BAAS_KUBE_READY_TIMEOUT") or None,
        "storage_gb": config.setting("BAAS_KUBE_STORAGE_GB") or None,
    }
    private = (cluster.tenant_id is None and bool(
        getattr(settings, "BAAS_PLATFORM_CLUSTER_ALLOW_PRIVATE", False))) or (
        cluster.tenant_id is not None and bool(
            getattr(settings, "BAAS_CLUSTER_ALLOW_PRIVATE", False)))
    version = hashlib.sha256(sealed + json.dumps(
        {"install_id": install_id, "private": private, **shared},
        sort_keys=True, default=str).encode()).hexdigest()

    def build() -> dict[str, Any]:
        try:
            kubeconfig = json.loads(crypto.unseal(sealed))
        except crypto.SealError:
            raise DriverError("driver_unavailable", "the cluster's credentials cannot be "
                              "opened with the configured key file") from None
        # The registration rules hold at use too: a row stored before the operator
        # tightened them (BAAS_CLUSTER_ALLOW_PRIVATE off) or edited since is not used.
        try:
            accepted = kc.sanitize(json.dumps(kubeconfig), allow_private=private)
        except kc.KubeconfigError as exc:
            raise DriverError("cluster_refused", f"the cluster's stored kubeconfig is refused "
                              f"now ({exc.code}); check the cluster again") from None
        return {
            "kubeconfig": kubeconfig,
            # The kubeconfig's own (only) context, never BAAS_KUBE_CONTEXT.
            "context": accepted.context,
            "in_cluster": False,
            "install_id": install_id,
            "storage_class": CLUSTER_STORAGE_CLASS,  # see the note at the constant
            # The control plane does not run in a registered cluster: the NetworkPolicy's
            # control-plane rule names the driver's built-in namespace, never the
            # platform's BAAS_KUBE_CONTROL_PLANE_NAMESPACE.
            "control_plane_namespace": CLUSTER_CONTROL_PLANE_NAMESPACE,
            **{k: v for k, v in shared.items() if v is not None},
        }

    return f"cluster:{cluster.pk}", version, build


def fleet_metrics() -> Any:
    """``/metrics`` figures of every tenant's networks and nodes (counts only: no names,
    ids or tenants, which would tell one scraper about everyone)."""
    from prometheus_client.core import GaugeMetricFamily

    networks = GaugeMetricFamily("baas_networks", "Networks, by status and driver.",
                                 labels=["status", "driver"])
    for row in Network.objects.values("status", "driver").annotate(n=Count("id")):
        networks.add_metric([row["status"], row["driver"]], row["n"])
    yield networks
    nodes = GaugeMetricFamily("baas_nodes", "Validator nodes, by status and health.",
                              labels=["status", "health"])
    for row in Node.objects.values("status", "health").annotate(n=Count("id")):
        nodes.add_metric([row["status"], row["health"]], row["n"])
    yield nodes
