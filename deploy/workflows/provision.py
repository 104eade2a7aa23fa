"""Provisioning a network and starting a stopped one: plan node addresses, make and store
the homes (keys sealed), apply every node through the driver, wait for committed blocks.

Every step reuses what an earlier run left (node rows, stored homes, driver resources), so
a run that resumes after a worker died converges instead of duplicating nodes.
"""

from __future__ import annotations

import time
from typing import Any

from django.db import transaction
from django.utils import timezone

from baas.runner import Run, StepFailed, Superseded
from deploy import conf, homes, rpc, states
from deploy.choices import NETWORK_LIVE, DesiredState, NetworkStatus, NodeHealth, NodeStatus
from deploy.drivers import Driver, driver_for
from deploy.drivers.runtimes import current_version
from deploy.models import Network, Node
from deploy.workflows.common import last_words

PROVISIONING = frozenset({NetworkStatus.REQUESTED, NetworkStatus.PROVISIONING})
STARTING = frozenset({NetworkStatus.STARTING})


def plan_nodes(network: Network, driver: Driver) -> list[Node]:
    """Node rows with addresses; created once, reused on every re-run."""
    nodes = list(network.nodes.exclude(status=NodeStatus.DELETED).order_by("index"))
    if len(nodes) == network.validator_count and all(n.rpc_port for n in nodes):
        return nodes
    addresses = driver.plan_network(
        network_id=str(network.pk), validators=network.validator_count
    )
    with transaction.atomic():  # all rows or none: a re-run never sees half a plan
        network.nodes.all().delete()
        return [
            Node.objects.create(
                network=network, tenant=network.tenant, index=index,
                moniker=f"{network.name}-{index}", host=address.host,
                p2p_port=address.p2p_port, rpc_port=address.rpc_port,
                abci_port=address.abci_port,
                metrics_port=address.metrics_port or None,
            )
            for index, address in enumerate(addresses)
        ]


def still_wanted(network_id: str, desired: str) -> bool:
    network = Network.objects.get(pk=network_id)
    return network.desired_state == desired and network.status != NetworkStatus.DELETING


def _still_running_wanted(network_id: str) -> None:
    if not still_wanted(network_id, DesiredState.RUNNING):
        raise Superseded(reason="The network was asked to stop or be deleted.")


def apply_nodes(
    run: Run, network: Network, driver: Driver, nodes: list[Node], *, start: int, end: int,
) -> None:
    """Start every node; stop between nodes when the user no longer wants it running.

    A planned start is not a restart: the restart count stays what it was (it counts the
    times a node came back after a crash or a user's restart)."""
    driver.prepare_network(
        install_id=homes.install_id(), tenant_id=str(network.tenant_id), network_id=str(network.pk)
    )
    for i, node in enumerate(nodes):
        if not still_wanted(str(network.pk), DesiredState.RUNNING):
            raise Superseded(reason="The network was asked to stop or be deleted.")
        state = driver.apply_node(homes.node_spec(node))
        states.node_transition(
            node_id=node.pk, to=NodeStatus.STARTING, detail=state.detail,
            rpc_url=state.rpc_url or "",
        )
        run.step(start + (end - start) * (i + 1) // len(nodes), "node_started",
                 f"started {node.moniker}", node=node.moniker)


def wait_for_blocks(network_id: str, *, above: int = 0, driver: Driver | None = None,
                    run: Run | None = None) -> dict[Any, int]:
    """Wait until every node answers RPC with a committed height > ``above``.

    Raises ``StepFailed("node_unhealthy")`` naming the nodes that never got there.
    """
    timeout = conf.setting("DEPLOY_FIRST_BLOCK_TIMEOUT_S")
    deadline = time.monotonic() + timeout
    heights: dict[Any, int] = {}
    problems: dict[str, str] = {}
    while True:
        nodes = list(Node.objects.filter(network_id=network_id).exclude(status=NodeStatus.DELETED))
        for node in nodes:
            if heights.get(node.pk, 0) > above:
                continue
            if not node.rpc_url:
                problems[node.moniker] = "no RPC address"
                continue
            try:
                info = rpc.status(node.rpc_url, timeout=2.0)
            except rpc.RpcError as exc:
                problems[node.moniker] = str(exc)
                continue
            heights[node.pk] = info.height
            if info.height > above:
                problems.pop(node.moniker, None)
        if nodes and all(heights.get(n.pk, 0) > above for n in nodes):
            return heights
        if time.monotonic() > deadline:
            waiting = sorted((n for n in nodes if heights.get(n.pk, 0) <= above),
                             key=lambda n: n.moniker)
            reasons = "; ".join(
                f"{n.moniker}: {problems.get(n.moniker, 'no new block')}"
                + last_words(driver, n) for n in waiting
            )
            raise StepFailed(
                "node_unhealthy",
                f"{len(waiting)} node(s) did not commit a block within {timeout:.0f}s: {reasons}",
            )
        if run is not None:
            run.beat()
        time.sleep(0.25)


def mark_running(network_id: str, heights: dict[Any, int]) -> None:
    """The network first: a stop or delete asked while this work waited has moved it on,
    and the move is refused (``InvalidTransition``, recorded as superseded) before any node
    row says running."""
    states.network_transition(network_id=network_id, to=NetworkStatus.RUNNING, allow_same=True)
    now = timezone.now()
    for node_pk, height in heights.items():
        states.node_transition(
            node_id=node_pk, to=NodeStatus.RUNNING, health=NodeHealth.HEALTHY, height=height,
            last_seen_at=now,
        )


def pin_runtime(network: Network, driver: Driver, *, repin: bool) -> None:
    """Make sure the network's ledger version can run here and record the driver's
    reference of it (docker: the image id). ``repin``: nothing of the network has run yet
    (no genesis), so it takes the control plane's current version -- a request that waited
    for approval while the control plane moved on gets today's ledger, not a lost one."""
    version = current_version() if repin or not network.ledger_version \
        else network.ledger_version
    runtime = driver.ensure_runtime(version)
    Network.objects.filter(pk=network.pk).update(ledger_version=version,
                                                 runtime_ref=runtime.ref[:255])
    network.ledger_version, network.runtime_ref = version, runtime.ref[:255]


def provision(run: Run, network_id: str) -> None:
    network = Network.objects.get(pk=network_id)
    if network.status in NETWORK_LIVE:
        run.succeed("already_running", "already running")
        return
    if network.desired_state != DesiredState.RUNNING or network.status not in (
        PROVISIONING | {NetworkStatus.FAILED}
    ):
        raise Superseded(reason=f"The network is {network.status}; nothing to provision.")
    states.network_transition(network_id=network_id, to=NetworkStatus.PROVISIONING,
                              allow_same=True)
    driver = driver_for(network)
    driver.check()
    run.step(5, "driver_available", f"{driver.name} driver is available", driver=driver.name)
    pin_runtime(network, driver, repin=not network.genesis)
    _still_running_wanted(network_id)
    nodes = plan_nodes(network, driver)
    run.step(15, "nodes_planned", f"planned {len(nodes)} validator addresses", count=len(nodes))
    if not homes.homes_stored(nodes):
        _still_running_wanted(network_id)  # no keys stored for a network being deleted
        homes.generate_and_store(network, nodes)
        run.step(30, "keys_generated", "generated keys and genesis (keys stored encrypted)")
    apply_nodes(run, network, driver, nodes, start=30, end=70)
    run.step(75, "waiting_first_block", "waiting for the first committed block")
    heights = wait_for_blocks(network_id, driver=driver, run=run)
    run.check()  # a claim lost while waiting must not mark the network running
    mark_running(network_id, heights)
    height = max(heights.values())
    run.succeed("network_running", f"running: block {height} committed", height=height)


def start(run: Run, network_id: str) -> None:
    network = Network.objects.get(pk=network_id)
    if network.status in NETWORK_LIVE:
        run.succeed("already_running", "already running")
        return
    if network.status != NetworkStatus.STARTING or network.desired_state != DesiredState.RUNNING:
        raise Superseded(reason=f"The network is {network.status}.")
    driver = driver_for(network)
    driver.check()
    nodes = list(network.nodes.exclude(status=NodeStatus.DELETED).order_by("index"))
    if not homes.homes_stored(nodes):
        raise StepFailed(
            "network_incomplete",
            "This network was never fully provisioned; delete it and create it again.",
        )
    before = max((n.height for n in nodes), default=0)
    apply_nodes(run, network, driver, nodes, start=10, end=60)
    run.step(70, "waiting_block_above", f"waiting for a block above height {before}",
             height=before)
    heights = wait_for_blocks(network_id, above=before, driver=driver, run=run)
    run.check()
    mark_running(network_id, heights)
    height = max(heights.values())
    run.succeed("network_running", f"running: block {height} committed", height=height)
