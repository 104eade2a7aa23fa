"""Stopping and deleting a network, and restarting one node."""

from __future__ import annotations

import time
from typing import Any

from baas.runner import Run, StepFailed, Superseded
from deploy import conf, homes, rpc, states
from deploy.choices import NETWORK_LIVE, DesiredState, NetworkStatus, NodeHealth, NodeStatus
from deploy.drivers import DriverError, driver_for
from deploy.models import Network, NetworkIdentity, Node, NodeKey, SigningKey
from deploy.recovery import recoveries_cancel

STOPPING = frozenset({NetworkStatus.STOPPING})
DELETING = frozenset({NetworkStatus.DELETING})


def stop(run: Run, network_id: str) -> None:
    network = Network.objects.get(pk=network_id)
    if network.status == NetworkStatus.STOPPED:
        run.succeed("already_stopped", "already stopped")
        return
    if network.status != NetworkStatus.STOPPING or network.desired_state != DesiredState.STOPPED:
        raise Superseded(reason=f"The network is {network.status}.")
    driver = driver_for(network)
    nodes = list(network.nodes.exclude(status=NodeStatus.DELETED).order_by("index"))
    for i, node in enumerate(nodes):
        driver.stop_node(network_id=network_id, node_id=str(node.pk))
        states.node_transition(node_id=node.pk, to=NodeStatus.STOPPED, health=NodeHealth.UNKNOWN)
        run.step(10 + 80 * (i + 1) // max(1, len(nodes)), "node_stopped",
                 f"stopped {node.moniker}", node=node.moniker)
    states.network_transition(network_id=network_id, to=NetworkStatus.STOPPED)
    run.succeed("network_stopped", "stopped")


# What a tenant's own cluster answers when it cannot (or no longer may) be used: a deletion
# there finishes anyway, with a warning (see ``delete``).
# What a registered cluster that is gone answers: unreachable, silently dropping packets
# (a deleted cloud cluster's address: driver_timeout), refusing us, or refused by us.
CLUSTER_GONE = frozenset({"driver_unavailable", "driver_timeout", "cluster_forbidden",
                          "cluster_refused"})


def _tenant_cluster(network: Network) -> bool:
    """The network runs on a cluster its tenant registered (not the platform's)."""
    cluster = getattr(network, "cluster", None) if network.cluster_id else None
    return cluster is not None and cluster.tenant_id is not None


def delete(run: Run, network_id: str) -> None:
    """Delete every node, then the network's shared resources, then its keys.

    On a cluster the tenant registered, a cluster that cannot be reached or refuses us
    (``driver_unavailable``, ``cluster_forbidden``, ``cluster_refused``: dead, credentials
    revoked, kubeconfig no longer accepted) does not keep the network from being deleted:
    what may remain there is on the tenant's own cluster, the operation records a warning
    saying so, and the keys in our database are removed as always. On the platform's
    clusters the same errors stay failures: what remains there is ours to clean up."""
    network = Network.objects.select_related("cluster").get(pk=network_id)
    if network.status == NetworkStatus.DELETED:
        run.succeed("already_deleted", "already deleted")
        return
    if network.status != NetworkStatus.DELETING:
        raise Superseded(reason=f"The network is {network.status}.")
    tolerant = _tenant_cluster(network)
    left: DriverError | None = None
    nodes = list(network.nodes.exclude(status=NodeStatus.DELETED))
    try:
        driver = driver_for(network)
        for i, node in enumerate(nodes):
            driver.delete_node(network_id=network_id, node_id=str(node.pk))
            states.node_transition(node_id=node.pk, to=NodeStatus.DELETED,
                                   health=NodeHealth.UNKNOWN)
            run.step(10 + 60 * (i + 1) // max(1, len(nodes)), "node_removed",
                     f"removed {node.moniker}", node=node.moniker)
        driver.delete_network(network_id=network_id)
        run.step(85, "shared_resources_removed", "removed the network's shared resources")
    except DriverError as exc:
        if not (tolerant and exc.code in CLUSTER_GONE):
            raise
        left = exc
        for node in nodes:
            states.node_transition(node_id=node.pk, to=NodeStatus.DELETED,
                                   health=NodeHealth.UNKNOWN)
        run.step(85, "cluster_leftovers_possible",
                 f"the organisation's cluster could not be cleaned up ({exc.code}); objects "
                 f"of this network may remain there (namespace baas-{network_id}) and are "
                 "the organisation's to delete", reason=exc.code, network=network_id)
    # The secrets are useless once the chain is gone; do not keep them around.
    NodeKey.objects.filter(node__network_id=network_id).delete()
    NetworkIdentity.objects.filter(network_id=network_id).delete()
    SigningKey.objects.filter(network_id=network_id).delete()
    recoveries_cancel(Node.objects.filter(network_id=network_id).values_list("pk", flat=True),
                      "the network was deleted")
    states.network_transition(network_id=network_id, to=NetworkStatus.DELETED)
    if left is not None:
        run.succeed("network_deleted_with_leftovers",
                    "deleted; objects may remain on the organisation's cluster",
                    reason=left.code)
        return
    run.succeed("network_deleted", "deleted")


def node_restart(run: Run, node_id: str) -> None:
    node = Node.objects.select_related("network").get(pk=node_id)
    network_id = str(node.network_id)
    if node.status == NodeStatus.DELETED:
        raise Superseded(reason="The node was removed.")
    driver = driver_for(node.network)
    height_before = live_height(node)
    driver.stop_node(network_id=network_id, node_id=node_id)
    states.node_transition(node_id=node.pk, to=NodeStatus.STOPPED, health=NodeHealth.UNKNOWN)
    run.step(40, "node_stopped", f"stopped {node.moniker}", node=node.moniker)
    state = driver.apply_node(homes.node_spec(node))
    states.node_transition(
        node_id=node.pk, to=NodeStatus.STARTING, rpc_url=state.rpc_url or node.rpc_url,
        detail=state.detail, restart_count=node.restart_count + 1,
    )
    run.step(70, "node_started", f"started {node.moniker}", node=node.moniker)
    info = wait_back(node.pk, above=height_before, run=run)
    states.node_transition(
        node_id=node.pk, to=NodeStatus.RUNNING, health=NodeHealth.HEALTHY, height=info.height
    )
    run.succeed("node_back", f"{node.moniker} is back at height {info.height}",
                node=node.moniker, height=info.height)


def restart_cancelled(node_id: str) -> None:
    """A restart cancelled between its stop and its start: start the node again now, so
    the reconciler does not take the stop for a crash."""
    node = Node.objects.select_related("network").get(pk=node_id)
    if node.status != NodeStatus.STOPPED or node.network.status not in NETWORK_LIVE:
        return
    state = driver_for(node.network).apply_node(homes.node_spec(node))
    states.node_transition(node_id=node.pk, to=NodeStatus.STARTING,
                           rpc_url=state.rpc_url or node.rpc_url, detail=state.detail)


def live_height(node: Node) -> int:
    """The node's committed height now, or the last one recorded when it does not answer."""
    try:
        return rpc.status(node.rpc_url).height
    except rpc.RpcError:
        return node.height


def wait_back(node_pk: Any, *, above: int, run: Run | None = None) -> rpc.NodeStatusInfo:
    """Wait until the restarted node has caught up and committed a block past ``above``:
    "back" means back in consensus, not just answering RPC (a two-validator chain halts
    while one is down and needs a few rounds to resume)."""
    timeout = conf.setting("DEPLOY_FIRST_BLOCK_TIMEOUT_S")
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        node = Node.objects.get(pk=node_pk)
        try:
            info = rpc.status(node.rpc_url)
            if not info.catching_up and info.height > above:
                return info
            last = f"height {info.height}, catching up {info.catching_up}"
        except rpc.RpcError as exc:
            last = str(exc)
        if run is not None:
            run.beat()
        time.sleep(0.25)
    raise StepFailed("node_unhealthy",
                     f"node did not commit past height {above} within {timeout:.0f}s "
                     f"({last or 'no answer'})")
