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

import logging
from typing import Any

from baas.models import Operation
from baas.runner import Run, StepFailed, Superseded
from deploy import homes, rpc, states
from deploy.choices import NODE_SUPERVISED, DesiredState, NetworkStatus, NodeHealth, NodeStatus
from deploy.drivers import driver_for
from deploy.models import Network, Node
from deploy.workflows.common import stop_everything
from deploy.workflows.lifecycle import live_height, wait_back
from deploy.workflows.provision import mark_running, wait_for_blocks

log = logging.getLogger(__name__)

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
    # The validators the network keeps up: a would-be validator given up on (``failed``,
    # maybe without a home) is not one of them and is left as it is.
    nodes = list(network.nodes.filter(status__in=NODE_SUPERVISED).order_by("index"))
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
    catch_up(run, network_id, nodes, halt)
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


def catch_up(run: Run, network_id: str, nodes: list[Node], halt: int) -> None:
    """Bring validators stopped before the chain halted up to the halt height, on the OLD
    version, so that no block below it is ever executed by the new code.

    Nodes stopped before the halt (the chain went on without them) hold less than a third
    of the voting power, or the chain would have halted sooner. Starting them with one
    node that has every block keeps the running power under two thirds (validators have
    equal power here), so they sync the missing blocks and the chain makes no new ones.
    """
    network = Network.objects.get(pk=network_id)
    driver = driver_for(network)
    rows = list(Node.objects.filter(pk__in=[n.pk for n in nodes]).order_by("index"))
    behind = []
    for node in rows:
        if node.height >= halt:
            continue
        if driver.inspect_node(network_id=network_id, node_id=str(node.pk)).running:
            # It did not stop after all (its height was read before the last blocks): it
            # has them; stop it now at the height it really has.
            height = live_height(node)
            driver.stop_node(network_id=network_id, node_id=str(node.pk))
            states.node_transition(node_id=node.pk, to=NodeStatus.STOPPED,
                                   health=NodeHealth.UNKNOWN, height=height)
            if height >= halt:
                continue
        behind.append(node)
    if not behind:
        return
    source = next(n for n in rows if n.height >= halt)
    run.step(25, "upgrade_catching_up",
             f"{len(behind)} validator(s) stopped before height {halt}: syncing them on the "
             "old version first", count=len(behind), height=halt)
    for node in [*behind, source]:
        state = driver.apply_node(homes.node_spec(node))  # the network still pins the old one
        states.node_transition(node_id=node.pk, to=NodeStatus.STARTING, detail=state.detail,
                               rpc_url=state.rpc_url or node.rpc_url)
    for node in behind:
        info = wait_back(node.pk, above=halt - 1, run=run)
        if info.height != halt:
            raise StepFailed("upgrade_height_moved",
                             f"{node.moniker} reached height {info.height}, not the halt "
                             f"height {halt}: the chain moved while it caught up")
    for node in [*behind, source]:
        driver.stop_node(network_id=network_id, node_id=str(node.pk))
        states.node_transition(node_id=node.pk, to=NodeStatus.STOPPED,
                               health=NodeHealth.UNKNOWN, height=halt)


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


def policy(network_id: str, operation_id: int | None = None) -> Any:
    """The upgrade's failure policy.

    - Before the network became ``upgrading`` (the new runtime is missing, say), nothing
      was touched: the operation fails and the network keeps running its version.
    - Once it is ``upgrading``, the upgrade is rolled back: every validator stops, the
      network gets its old version back, and every validator starts on it again. The
      operation ends ``upgrade_rolled_back`` with the reason it failed. This matters most
      when a validator that stopped before the chain halted replays its missing blocks
      with the new code and disagrees: that node halts, and nothing it computed with the
      new code was ever committed.
    - Only when the roll-back fails too does the network fail, with whatever runs of it
      stopped, as for any work on a whole network.
    """

    def on_failure(code: str, message: str) -> str | None:
        network = Network.objects.filter(pk=network_id).first()
        if network is not None and network.status == NetworkStatus.RUNNING:
            return code  # failed before halting anything: the network is as it was
        previous = ""
        op = Operation.objects.filter(pk=operation_id).first() if operation_id else None
        if op is not None:
            previous = str((op.params or {}).get("from") or "")
        if network is not None and network.status == NetworkStatus.UPGRADING and previous \
                and network.desired_state == DesiredState.RUNNING:
            try:
                roll_back(network_id, previous)
                return "upgrade_rolled_back"
            except Exception:  # noqa: BLE001 -- the roll-back's own failure is logged
                log.exception("network %s: rolling back the upgrade failed", network_id)
        if states.network_fail(network_id=network_id, code=code, message=message,
                               expected=UPGRADING, desired=DesiredState.RUNNING):
            stop_everything(network_id)  # logs and records what did not stop
            return code
        return "superseded"

    return on_failure


def roll_back(network_id: str, version: str) -> None:
    """Every validator back on ``version``, the network running again."""
    network = Network.objects.get(pk=network_id)
    driver = driver_for(network)
    runtime = driver.ensure_runtime(version)
    nodes = list(network.nodes.filter(status__in=NODE_SUPERVISED).order_by("index"))
    for node in nodes:
        driver.stop_node(network_id=network_id, node_id=str(node.pk))
        states.node_transition(node_id=node.pk, to=NodeStatus.STOPPED, health=NodeHealth.UNKNOWN)
    Network.objects.filter(pk=network_id).update(ledger_version=version,
                                                 runtime_ref=runtime.ref[:255])
    before = max((n.height for n in nodes), default=0)
    for node in Node.objects.filter(pk__in=[n.pk for n in nodes]).order_by("index"):
        state = driver.apply_node(homes.node_spec(node))
        states.node_transition(node_id=node.pk, to=NodeStatus.STARTING, detail=state.detail,
                               rpc_url=state.rpc_url or node.rpc_url)
    heights = wait_for_blocks(network_id, above=before, driver=driver)
    mark_running(network_id, heights)
