"""A network upgrade: every validator moves to another ledger version at one height.

Validators that execute a block with different code part on the app hash, and a chain
halts as soon as more than a third of its voting power stops. So the upgrade is a
coordinated halt and restart:

1. the new version's runtime is made sure of on the network's driver (nothing has been
   touched yet: a missing runtime fails the operation and leaves the network running);
2. the network becomes ``upgrading`` (the reconciler leaves it alone) and every validator
   stops; the chain halts at its last committed height H, the agreed height: every block
   up to H was executed by the old version, every block after it by the new one;
3. the network records the new version and every validator starts on it, home and chain
   data kept;
4. every node commits past H + 1, so the new code executed block H + 1 on every node and
   the header of block H + 2 carries its result; then the app hash at a common height is
   read from each node's own block store and must be the same everywhere
   (``app_hash_mismatch`` otherwise). CometBFT itself stops a node whose application
   disagrees with a committed header, so "every node committed past it" and "every node
   has the same header" together say every node computed the same state.

Each step reuses what an earlier run left (stopped nodes, the recorded version), so a run
resumed after a worker died converges.
"""

from __future__ import annotations

from typing import Any

from baas.models import Operation
from baas.runner import Run, StepFailed, Superseded
from deploy import homes, rpc, states
from deploy.choices import DesiredState, NetworkStatus, NodeHealth, NodeStatus
from deploy.drivers import driver_for
from deploy.models import Network, Node
from deploy.workflows.common import stop_everything
from deploy.workflows.lifecycle import live_height
from deploy.workflows.provision import mark_running, wait_for_blocks

UPGRADING = frozenset({NetworkStatus.UPGRADING})


def target_version(operation_id: int | None) -> str:
    op = Operation.objects.filter(pk=operation_id).first()
    return str((op.params or {}).get("to") or "") if op is not None else ""


def upgrade(run: Run, network_id: str) -> None:
    network = Network.objects.get(pk=network_id)
    version = target_version(run.operation_id)
    if not version:
        raise StepFailed("invalid_ledger_version", "the operation names no ledger version")
    if network.status == NetworkStatus.RUNNING and network.ledger_version == version:
        run.succeed("already_upgraded", f"already at ledger {version}", version=version)
        return
    if network.desired_state != DesiredState.RUNNING or network.status not in (
        {NetworkStatus.RUNNING} | UPGRADING
    ):
        raise Superseded(reason=f"The network is {network.status}.")
    driver = driver_for(network)
    runtime = driver.ensure_runtime(version)
    run.step(10, "upgrade_runtime_ready", f"ledger {version} can run on the {driver.name} driver",
             version=version, driver=driver.name)
    if network.status == NetworkStatus.RUNNING:
        states.network_transition(network_id=network_id, to=NetworkStatus.UPGRADING)
    nodes = list(network.nodes.exclude(status=NodeStatus.DELETED).order_by("index"))
    # The chain halts once more than a third of the power is gone; H is the highest block
    # any node committed before its stop (a node already stopped by an earlier run keeps
    # the height recorded then).
    for node in nodes:
        if node.status != NodeStatus.STOPPED:
            height = live_height(node)
            driver.stop_node(network_id=network_id, node_id=str(node.pk))
            states.node_transition(node_id=node.pk, to=NodeStatus.STOPPED,
                                   health=NodeHealth.UNKNOWN, height=max(height, node.height))
        run.check()
    halt = max(Node.objects.filter(pk__in=[n.pk for n in nodes]).values_list("height",
                                                                             flat=True),
               default=0)
    run.step(30, "upgrade_halted", f"stopped every validator: the chain halted at height {halt}",
             height=halt)
    Network.objects.filter(pk=network_id).update(ledger_version=version,
                                                 runtime_ref=runtime.ref[:255])
    run.step(40, "upgrade_switched", f"the network now runs ledger {version}", version=version)
    for i, node in enumerate(Node.objects.filter(pk__in=[n.pk for n in nodes])
                             .select_related("network").order_by("index")):
        if not still_upgrading(network_id):
            raise Superseded(reason="The network was asked to stop or be deleted.")
        current = driver.inspect_node(network_id=network_id, node_id=str(node.pk))
        if current.running and current.ledger_version != version:
            # brought back on the old version meanwhile (a reconciler pass that began
            # before this upgrade did): stop it again, it cannot be switched running
            driver.stop_node(network_id=network_id, node_id=str(node.pk))
        state = driver.apply_node(homes.node_spec(node))
        states.node_transition(node_id=node.pk, to=NodeStatus.STARTING, detail=state.detail,
                               rpc_url=state.rpc_url or node.rpc_url)
        run.step(40 + 30 * (i + 1) // len(nodes), "node_started", f"started {node.moniker}",
                 node=node.moniker)
    run.step(75, "waiting_block_above", f"waiting for a block above height {halt + 1}",
             height=halt + 1)
    heights = wait_for_blocks(network_id, above=halt + 1, driver=driver, run=run)
    common = min(heights.values())
    app_hash = compare_app_hashes(network_id, common)
    run.step(90, "app_hashes_equal",
             f"every node has app hash {app_hash} at height {common}",
             app_hash=app_hash, height=common)
    run.check()
    mark_running(network_id, heights)
    run.succeed("network_upgraded", f"upgraded to ledger {version}; running at height {common}",
                version=version, height=common)


def still_upgrading(network_id: str) -> bool:
    network = Network.objects.get(pk=network_id)
    return network.status == NetworkStatus.UPGRADING \
        and network.desired_state == DesiredState.RUNNING


def compare_app_hashes(network_id: str, height: int) -> str:
    """The app hash of block ``height`` from each node's own store; all must agree."""
    hashes: dict[str, str] = {}
    for node in Node.objects.filter(network_id=network_id).exclude(status=NodeStatus.DELETED):
        try:
            hashes[node.moniker] = rpc.app_hash(node.rpc_url, height)
        except rpc.RpcError as exc:
            raise StepFailed("node_unhealthy",
                             f"{node.moniker} did not say its block {height}: {exc}") from exc
    if len(set(hashes.values())) != 1:
        found = ", ".join(f"{name}: {value or 'none'}" for name, value in sorted(hashes.items()))
        raise StepFailed("app_hash_mismatch",
                         f"the nodes disagree on the app hash at height {height} ({found})")
    return next(iter(hashes.values()))


def policy(network_id: str) -> Any:
    """The upgrade's failure policy. Before the network became ``upgrading`` (the new
    runtime is missing, say) nothing was touched: the operation fails and the network
    keeps running its version. Once it is ``upgrading``, the network fails and whatever
    runs of it is stopped, as for any work on a whole network; it keeps the version it
    was switched to, so a start retries that one (there is no automatic roll-back)."""

    def on_failure(code: str, message: str) -> str | None:
        if states.network_fail(network_id=network_id, code=code, message=message,
                               expected=UPGRADING, desired=DesiredState.RUNNING):
            stop_everything(network_id)  # logs and records what did not stop
            return code
        network = Network.objects.filter(pk=network_id).first()
        if network is not None and network.status == NetworkStatus.RUNNING:
            return code  # failed before halting anything: the network is as it was
        return "superseded"

    return on_failure
