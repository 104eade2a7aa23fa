"""Stopping and deleting a network, and restarting one node."""

from __future__ import annotations

import time
from typing import Any

from baas.runner import Run, StepFailed, Superseded
from deploy import conf, homes, rpc, states
from deploy.choices import DesiredState, NetworkStatus, NodeHealth, NodeStatus
from deploy.drivers import driver_for
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


def delete(run: Run, network_id: str) -> None:
    network = Network.objects.get(pk=network_id)
    if network.status == NetworkStatus.DELETED:
        run.succeed("already_deleted", "already deleted")
        return
    if network.status != NetworkStatus.DELETING:
        raise Superseded(reason=f"The network is {network.status}.")
    driver = driver_for(network)
    nodes = list(network.nodes.exclude(status=NodeStatus.DELETED))
    for i, node in enumerate(nodes):
        driver.delete_node(network_id=network_id, node_id=str(node.pk))
        states.node_transition(node_id=node.pk, to=NodeStatus.DELETED, health=NodeHealth.UNKNOWN)
        run.step(10 + 60 * (i + 1) // max(1, len(nodes)), "node_removed",
                 f"removed {node.moniker}", node=node.moniker)
    driver.delete_network(network_id=network_id)
    run.step(85, "shared_resources_removed", "removed the network's shared resources")
    # The secrets are useless once the chain is gone; do not keep them around.
    NodeKey.objects.filter(node__network_id=network_id).delete()
    NetworkIdentity.objects.filter(network_id=network_id).delete()
    SigningKey.objects.filter(network_id=network_id).delete()
    recoveries_cancel(Node.objects.filter(network_id=network_id).values_list("pk", flat=True),
                      "the network was deleted")
    states.network_transition(network_id=network_id, to=NetworkStatus.DELETED)
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
