"""Celery tasks that move networks from desired to actual state through a driver.

Every task takes ids, reloads its rows, exits quietly when the work is done or no longer
wanted, and can run twice without harm (``acks_late``: a task whose worker died is
delivered again and resumes: node rows, stored homes and driver resources are all reused).
Any failure ends in a network ``failed`` with an error code and message, and the operation
failed with the same reason.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from celery import shared_task
from django.db import transaction

from baas.choices import TERMINAL, OperationState
from baas.errors import AppError
from baas.models import Operation
from baas.operations import operation_progress, operation_transition
from deploy import conf, homes, rpc
from deploy.choices import NETWORK_LIVE, DesiredState, NetworkStatus, NodeHealth, NodeStatus
from deploy.drivers import Driver, DriverError, get_driver
from deploy.models import Network, NetworkIdentity, Node, NodeKey
from deploy.recovery import recoveries_cancel
from deploy.services import network_fail, network_transition, node_transition

logger = logging.getLogger(__name__)

TASK_OPTIONS: dict[str, Any] = {"acks_late": True, "reject_on_worker_lost": True}


class StepFailed(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def driver_for(network: Network) -> Driver:
    return get_driver(network.driver)


# --- operation helpers ----------------------------------------------------------------------


def _begin(operation_id: int | None) -> bool:
    """Mark the operation running; False if it already ended (reaped, cancelled, done)."""
    if operation_id is None:
        return True
    op = Operation.objects.filter(pk=operation_id).first()
    if op is None or op.state in TERMINAL:
        return False
    if op.state == OperationState.QUEUED:
        operation_transition(operation_id=operation_id, to=OperationState.RUNNING)
    return True


def _progress(operation_id: int | None, percent: int, message: str) -> None:
    if operation_id is not None:
        operation_progress(operation_id=operation_id, percent=percent, message=message)


def _finish(operation_id: int | None, message: str = "done") -> None:
    if operation_id is None:
        return
    op = Operation.objects.get(pk=operation_id)
    if op.state not in TERMINAL:
        operation_transition(
            operation_id=operation_id, to=OperationState.SUCCEEDED, message=message
        )


def _fail_operation(operation_id: int | None, code: str, message: str) -> None:
    if operation_id is None:
        return
    op = Operation.objects.get(pk=operation_id)
    if op.state not in TERMINAL:
        operation_transition(
            operation_id=operation_id, to=OperationState.FAILED, error_code=code,
            error_message=message, message=f"failed: {message}",
        )


def _run_guarded(
    network_id: str, operation_id: int | None, body: Callable[[], None], *, fail_network: bool
) -> None:
    """Run ``body``; any error becomes a failed operation (and network) with a clear reason."""
    try:
        body()
    except (DriverError, StepFailed, AppError) as exc:
        code, message = exc.code, getattr(exc, "message", str(exc))
        logger.warning("network %s: %s: %s", network_id, code, message)
        _fail(network_id, operation_id, code, message, fail_network=fail_network)
    except Exception as exc:  # noqa: BLE001 -- never leave an operation hanging
        logger.exception("network %s: unexpected error", network_id)
        _fail(
            network_id, operation_id, "internal_error",
            f"{exc.__class__.__name__}: {exc}", fail_network=fail_network,
        )


def _fail(
    network_id: str, operation_id: int | None, code: str, message: str, *, fail_network: bool
) -> None:
    if fail_network:
        network_fail(network_id=network_id, error=StepFailed(code, message), code=code)
        _stop_everything(network_id)
    _fail_operation(operation_id, code, message)


def _stop_everything(network_id: str) -> None:
    """After a failure, stop what was started so nothing runs unsupervised. Best effort:
    the network's ``delete`` removes everything anyway."""
    network = Network.objects.get(pk=network_id)
    try:
        driver = driver_for(network)
        for node in network.nodes.exclude(status=NodeStatus.DELETED):
            try:
                driver.stop_node(network_id=str(network.pk), node_id=str(node.pk))
            except DriverError:
                pass
            if node.status != NodeStatus.FAILED:
                node_transition(node_id=node.pk, to=NodeStatus.FAILED, health=NodeHealth.UNKNOWN)
    except DriverError:
        pass


# --- steps ----------------------------------------------------------------------------------


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
            )
            for index, address in enumerate(addresses)
        ]


def _still_wanted(network_id: str, desired: str) -> bool:
    network = Network.objects.get(pk=network_id)
    return network.desired_state == desired and network.status != NetworkStatus.DELETING


def apply_nodes(
    network: Network, driver: Driver, nodes: list[Node], operation_id: int | None,
    *, start: int, end: int,
) -> None:
    driver.prepare_network(
        install_id=homes.install_id(), tenant_id=str(network.tenant_id), network_id=str(network.pk)
    )
    for i, node in enumerate(nodes):
        if not _still_wanted(str(network.pk), DesiredState.RUNNING):
            raise StepFailed("superseded", "The network was asked to stop or be deleted.")
        state = driver.apply_node(homes.node_spec(node))
        node_transition(
            node_id=node.pk, to=NodeStatus.STARTING, detail=state.detail,
            rpc_url=state.rpc_url or "", restart_count=state.restart_count,
        )
        _progress(
            operation_id, start + (end - start) * (i + 1) // len(nodes),
            f"started {node.moniker}",
        )


def wait_for_blocks(network_id: str, *, above: int = 0,
                    driver: Driver | None = None) -> dict[Any, int]:
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
                + _last_words(driver, n) for n in waiting
            )
            raise StepFailed(
                "node_unhealthy",
                f"{len(waiting)} node(s) did not commit a block within {timeout:.0f}s: {reasons}",
            )
        time.sleep(0.25)


def _last_words(driver: Driver | None, node: Node) -> str:
    """The node's last log line, which usually says why it died (a bad genesis, an image
    older than the control plane, a port in use)."""
    if driver is None:
        return ""
    try:
        text = driver.logs(network_id=str(node.network_id), node_id=str(node.pk), tail=5)
    except DriverError:
        return ""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return f" (last log line: {lines[-1][:200]})" if lines else ""


def _mark_running(network_id: str, heights: dict[Any, int]) -> None:
    from django.utils import timezone

    now = timezone.now()
    for node_pk, height in heights.items():
        node_transition(
            node_id=node_pk, to=NodeStatus.RUNNING, health=NodeHealth.HEALTHY, height=height,
            last_seen_at=now,
        )
    network_transition(network_id=network_id, to=NetworkStatus.RUNNING)


# --- tasks ----------------------------------------------------------------------------------


@shared_task(name="deploy.network_provision", **TASK_OPTIONS)
def network_provision_task(network_id: str, operation_id: int | None = None) -> None:
    network = Network.objects.filter(pk=network_id).first()
    if network is None or not _begin(operation_id):
        return
    if network.status in NETWORK_LIVE:
        _finish(operation_id, "already running")
        return
    if network.desired_state != DesiredState.RUNNING or network.status not in (
        NetworkStatus.REQUESTED, NetworkStatus.PROVISIONING, NetworkStatus.FAILED,
    ):
        _fail_operation(
            operation_id, "superseded", f"The network is {network.status}; nothing to provision."
        )
        return

    def body() -> None:
        network_transition(network_id=network_id, to=NetworkStatus.PROVISIONING, allow_same=True)
        driver = driver_for(network)
        driver.check()
        _progress(operation_id, 5, f"{driver.name} driver is available")
        nodes = plan_nodes(network, driver)
        _progress(operation_id, 15, f"planned {len(nodes)} validator addresses")
        if not homes.homes_stored(nodes):
            homes.generate_and_store(network, nodes)
            _progress(operation_id, 30, "generated keys and genesis (keys stored encrypted)")
        apply_nodes(network, driver, nodes, operation_id, start=30, end=70)
        _progress(operation_id, 75, "waiting for the first committed block")
        heights = wait_for_blocks(network_id, driver=driver)
        _mark_running(network_id, heights)
        _finish(operation_id, f"running: block {max(heights.values())} committed")

    _run_guarded(network_id, operation_id, body, fail_network=True)


@shared_task(name="deploy.network_start", **TASK_OPTIONS)
def network_start_task(network_id: str, operation_id: int | None = None) -> None:
    network = Network.objects.filter(pk=network_id).first()
    if network is None or not _begin(operation_id):
        return
    if network.status in NETWORK_LIVE:
        _finish(operation_id, "already running")
        return
    if network.status != NetworkStatus.STARTING:
        _fail_operation(operation_id, "superseded", f"The network is {network.status}.")
        return

    def body() -> None:
        driver = driver_for(network)
        driver.check()
        nodes = list(network.nodes.exclude(status=NodeStatus.DELETED).order_by("index"))
        if not homes.homes_stored(nodes):
            raise StepFailed(
                "network_incomplete",
                "This network was never fully provisioned; delete it and create it again.",
            )
        before = max((n.height for n in nodes), default=0)
        apply_nodes(network, driver, nodes, operation_id, start=10, end=60)
        _progress(operation_id, 70, f"waiting for a block above height {before}")
        heights = wait_for_blocks(network_id, above=before, driver=driver)
        _mark_running(network_id, heights)
        _finish(operation_id, f"running: block {max(heights.values())} committed")

    _run_guarded(network_id, operation_id, body, fail_network=True)


@shared_task(name="deploy.network_stop", **TASK_OPTIONS)
def network_stop_task(network_id: str, operation_id: int | None = None) -> None:
    network = Network.objects.filter(pk=network_id).first()
    if network is None or not _begin(operation_id):
        return
    if network.status == NetworkStatus.STOPPED:
        _finish(operation_id, "already stopped")
        return
    if network.status != NetworkStatus.STOPPING:
        _fail_operation(operation_id, "superseded", f"The network is {network.status}.")
        return

    def body() -> None:
        driver = driver_for(network)
        nodes = list(network.nodes.exclude(status=NodeStatus.DELETED).order_by("index"))
        for i, node in enumerate(nodes):
            driver.stop_node(network_id=network_id, node_id=str(node.pk))
            node_transition(node_id=node.pk, to=NodeStatus.STOPPED, health=NodeHealth.UNKNOWN)
            _progress(operation_id, 10 + 80 * (i + 1) // max(1, len(nodes)),
                      f"stopped {node.moniker}")
        network_transition(network_id=network_id, to=NetworkStatus.STOPPED)
        _finish(operation_id, "stopped")

    _run_guarded(network_id, operation_id, body, fail_network=True)


@shared_task(name="deploy.network_delete", **TASK_OPTIONS)
def network_delete_task(network_id: str, operation_id: int | None = None) -> None:
    network = Network.objects.filter(pk=network_id).first()
    if network is None or not _begin(operation_id):
        return
    if network.status == NetworkStatus.DELETED:
        _finish(operation_id, "already deleted")
        return
    if network.status != NetworkStatus.DELETING:
        _fail_operation(operation_id, "superseded", f"The network is {network.status}.")
        return

    def body() -> None:
        driver = driver_for(network)
        nodes = list(network.nodes.exclude(status=NodeStatus.DELETED))
        for i, node in enumerate(nodes):
            driver.delete_node(network_id=network_id, node_id=str(node.pk))
            node_transition(node_id=node.pk, to=NodeStatus.DELETED, health=NodeHealth.UNKNOWN)
            _progress(operation_id, 10 + 60 * (i + 1) // max(1, len(nodes)),
                      f"removed {node.moniker}")
        driver.delete_network(network_id=network_id)
        _progress(operation_id, 85, "removed the network's shared resources")
        # The secrets are useless once the chain is gone; do not keep them around.
        NodeKey.objects.filter(node__network_id=network_id).delete()
        NetworkIdentity.objects.filter(network_id=network_id).delete()
        recoveries_cancel(Node.objects.filter(network_id=network_id).values_list("pk", flat=True),
                          "the network was deleted")
        network_transition(network_id=network_id, to=NetworkStatus.DELETED)
        _finish(operation_id, "deleted")

    _run_guarded(network_id, operation_id, body, fail_network=True)


@shared_task(name="deploy.node_restart", **TASK_OPTIONS)
def node_restart_task(node_id: str, operation_id: int | None = None) -> None:
    node = Node.objects.select_related("network").filter(pk=node_id).first()
    if node is None or not _begin(operation_id):
        return
    network_id = str(node.network_id)

    def body() -> None:
        driver = driver_for(node.network)
        height_before = _live_height(node)
        driver.stop_node(network_id=network_id, node_id=node_id)
        node_transition(node_id=node.pk, to=NodeStatus.STOPPED, health=NodeHealth.UNKNOWN)
        _progress(operation_id, 40, f"stopped {node.moniker}")
        state = driver.apply_node(homes.node_spec(node))
        node_transition(
            node_id=node.pk, to=NodeStatus.STARTING, rpc_url=state.rpc_url or node.rpc_url,
            detail=state.detail, restart_count=node.restart_count + 1,
        )
        _progress(operation_id, 70, f"started {node.moniker}")
        info = _wait_in_step(node.pk, above=height_before)
        node_transition(
            node_id=node.pk, to=NodeStatus.RUNNING, health=NodeHealth.HEALTHY, height=info.height
        )
        _finish(operation_id, f"{node.moniker} is back at height {info.height}")

    _run_guarded(network_id, operation_id, body, fail_network=False)


def _live_height(node: Node) -> int:
    """The node's committed height now, or the last one recorded when it does not answer."""
    try:
        return rpc.status(node.rpc_url).height
    except rpc.RpcError:
        return node.height


def _wait_in_step(node_pk: Any, *, above: int) -> rpc.NodeStatusInfo:
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
        time.sleep(0.25)
    raise StepFailed("node_unhealthy",
                     f"node did not commit past height {above} within {timeout:.0f}s "
                     f"({last or 'no answer'})")


@shared_task(name="deploy.reconcile")
def reconcile_task() -> dict[str, int]:
    from deploy.reconcile import reconcile

    return reconcile()


@shared_task(name="deploy.reap")
def reap_task() -> list[int]:
    from deploy.reconcile import reap

    return reap()


# --- validator set changes --------------------------------------------------------------


def _identity_tx(network: Network, function: str, args: dict[str, Any],
                 *, already_done: str) -> None:
    """Send an ``_identity`` transaction signed by the owner's managed identity: the owner's
    organisation governs the network (a member's does not, see ``ledger.system.base``). A
    refusal whose log contains ``already_done`` means a previous run got there first. A
    proposal the policy keeps pending is a failure that says so (the platform holds no
    other organisation's key)."""
    from deploy import gateway

    try:
        result = gateway.submit_committed(
            network=network, tenant=network.tenant,
            body={"chaincode": "_identity", "function": function, "args": args},
            timeout=conf.setting("DEPLOY_FIRST_BLOCK_TIMEOUT_S"))
    except AppError as exc:
        if exc.code == "tx_rejected" and already_done in str(exc.details.get("log", "")):
            return
        raise
    data = result.get("data")
    if isinstance(data, dict) and data.get("status") == "pending":
        raise StepFailed(
            "approval_pending",
            f"_identity.{function} is waiting for approvals from other organisations "
            f"({data.get('approvals')} of {data.get('required')}).",
        )


def _register_member_org(network: Network, tenant: Any) -> None:
    from deploy.consortium import OrgApprovalPending, register_org

    try:
        register_org(network, tenant)
    except OrgApprovalPending as exc:
        raise StepFailed("org_approval_pending", str(exc)) from None


@shared_task(name="deploy.consortium_org_add", **TASK_OPTIONS)
def consortium_org_add_task(network_id: str, tenant_id: int,
                            operation_id: int | None = None) -> None:
    """Register a consortium member's organisation on the running chain."""
    from tenants.models import Tenant

    network = Network.objects.filter(pk=network_id).first()
    tenant = Tenant.objects.filter(pk=tenant_id).first()
    if network is None or tenant is None or not _begin(operation_id):
        return
    if network.status != NetworkStatus.RUNNING:
        _fail_operation(operation_id, "network_not_running",
                        f"The network is {network.status}; the first validator add of "
                        "the member registers its organisation instead.")
        return

    def body() -> None:
        _register_member_org(network, tenant)
        _finish(operation_id, f"organisation {tenant.slug} registered on chain")

    _run_guarded(network_id, operation_id, body, fail_network=False)


def _wait_power(node: Node, *, positive: bool) -> None:
    timeout = conf.setting("DEPLOY_FIRST_BLOCK_TIMEOUT_S") * 2
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        try:
            power, catching_up = rpc.voting_power(node.rpc_url)
            if (power > 0 and not catching_up) if positive else power == 0:
                return
            last = f"voting power {power}, catching up {catching_up}"
        except rpc.RpcError as exc:
            last = str(exc)
        time.sleep(0.5)
    want = "join the validator set" if positive else "leave the validator set"
    raise StepFailed("validator_update_timeout",
                     f"{node.moniker} did not {want} within {timeout:.0f}s ({last})")


def _chain_validators(network: Network, *, exclude: Node | None = None) -> set[str] | None:
    """The validator set (base64 public keys) as the first running node that answers sees
    it; None when none answers."""
    nodes = network.nodes.filter(status=NodeStatus.RUNNING).order_by("index")
    if exclude is not None:
        nodes = nodes.exclude(pk=exclude.pk)
    for peer in nodes:
        try:
            return rpc.validator_keys(peer.rpc_url)
        except rpc.RpcError:
            continue
    return None


def _wait_left_set(network: Network, node: Node) -> None:
    """Wait until the other validators no longer list ``node`` (its own RPC is no help
    when it is down, which is often why it is being removed)."""
    timeout = conf.setting("DEPLOY_FIRST_BLOCK_TIMEOUT_S") * 2
    deadline = time.monotonic() + timeout
    keys: set[str] | None = None
    while time.monotonic() < deadline:
        keys = _chain_validators(network, exclude=node)
        if keys is not None and node.validator_pub_key not in keys:
            return
        time.sleep(0.5)
    seen = "no other node answered" if keys is None else f"{len(keys)} validators listed"
    raise StepFailed("validator_update_timeout",
                     f"{node.moniker} did not leave the validator set within {timeout:.0f}s "
                     f"({seen})")


def _sync_validator_count(network_id: str, fallback_delta: int) -> None:
    """``validator_count`` follows the chain's validator set (so a failed add that still
    got in, or a removed node that never got in, cannot skew it); ``fallback_delta`` only
    when no node answers."""
    with transaction.atomic():
        network = Network.objects.select_for_update().get(pk=network_id)
        keys = _chain_validators(network)
        network.validator_count = len(keys) if keys else network.validator_count + fallback_delta
        network.save(update_fields=["validator_count", "updated_at"])


@shared_task(name="deploy.validator_add", **TASK_OPTIONS)
def validator_add_task(network_id: str, operation_id: int | None = None) -> None:
    network = Network.objects.filter(pk=network_id).first()
    if network is None or not _begin(operation_id):
        return
    if network.status != NetworkStatus.RUNNING:
        _fail_operation(operation_id, "superseded", f"The network is {network.status}.")
        return

    # The organisation that asked runs the validator: the owner, or a consortium member.
    op = Operation.objects.filter(pk=operation_id).select_related("tenant").first()
    runner = op.tenant if op is not None and op.tenant_id else network.tenant
    is_member = runner.pk != network.tenant_id

    def body() -> None:
        driver = driver_for(network)
        driver.check()
        if is_member:
            _register_member_org(network, runner)
            _progress(operation_id, 10, f"organisation {runner.slug} is registered on chain")
        peers = list(network.nodes.filter(status=NodeStatus.RUNNING).order_by("index"))
        # Resume the half-added node of an interrupted run rather than planning another.
        node = network.nodes.filter(status__in=[NodeStatus.PENDING, NodeStatus.STARTING],
                                    tenant=runner).order_by("-index").first()
        if node is None:
            index = max(network.nodes.values_list("index", flat=True), default=-1) + 1
            address = driver.plan_node(network_id=network_id, index=index)
            node = Node.objects.create(
                network=network, tenant=runner, index=index,
                moniker=f"{network.name}-{index}", host=address.host,
                p2p_port=address.p2p_port, rpc_port=address.rpc_port,
                abci_port=address.abci_port,
            )
        _progress(operation_id, 15, f"planned {node.moniker}")
        if not homes.homes_stored([node]):
            homes.generate_and_store_extra(network, node, peers)
            node.refresh_from_db()
        _progress(operation_id, 30, f"generated keys for {node.moniker} (stored encrypted)")
        state = driver.apply_node(homes.node_spec(node))
        node = node_transition(node_id=node.pk, to=NodeStatus.STARTING,
                               rpc_url=state.rpc_url or "", detail=state.detail)
        _progress(operation_id, 50, f"started {node.moniker}; asking the chain to add it")
        org = homes.managed_identity(network, runner)[0].organisation_id
        _identity_tx(network, "add_node", {
            "org": org, "name": node.moniker,
            "public_key": homes.validator_key_hex(node), "power": 10,
        }, already_done="already registered")
        _progress(operation_id, 70, "validator update committed; waiting for it to sign")
        _wait_power(node, positive=True)
        info = rpc.status(node.rpc_url)
        node_transition(node_id=node.pk, to=NodeStatus.RUNNING, health=NodeHealth.HEALTHY,
                        height=info.height)
        _sync_validator_count(network_id, +1)
        _finish(operation_id, f"{node.moniker} is a validator")

    _run_guarded(network_id, operation_id, body, fail_network=False)
    _give_up_pending(network_id, operation_id)


def _give_up_pending(network_id: str, operation_id: int | None) -> None:
    """After this add failed, stop the would-be validator so nothing runs unsupervised --
    unless the chain already made it a validator (the add committed, then waiting for it
    timed out): stopping it then would cost the chain a validator, maybe its quorum. Such
    a node stays up under the reconciler and the count follows the chain."""
    op = Operation.objects.filter(pk=operation_id).first() if operation_id else None
    if op is None or op.state != OperationState.FAILED:
        return
    network = Network.objects.get(pk=network_id)
    validators = _chain_validators(network)
    for node in network.nodes.filter(status__in=[NodeStatus.PENDING, NodeStatus.STARTING]):
        if validators is not None and node.validator_pub_key in validators:
            _sync_validator_count(network_id, 0)
            continue
        try:
            driver_for(network).stop_node(network_id=network_id, node_id=str(node.pk))
        except DriverError:
            pass
        node_transition(node_id=node.pk, to=NodeStatus.FAILED, health=NodeHealth.UNKNOWN)


@shared_task(name="deploy.validator_remove", **TASK_OPTIONS)
def validator_remove_task(node_id: str, operation_id: int | None = None) -> None:
    node = Node.objects.select_related("network").filter(pk=node_id).first()
    if node is None or not _begin(operation_id):
        return
    network = node.network
    if node.status == NodeStatus.DELETED:
        _finish(operation_id, "already removed")
        return

    def body() -> None:
        _take_out(network, node, operation_id)
        _finish(operation_id, f"{node.moniker} removed")

    _run_guarded(str(network.pk), operation_id, body, fail_network=False)


def _take_out(network: Network, node: Node, operation_id: int | None) -> None:
    """Take ``node`` out of the validator set, then delete it and its keys. ``remove_node``
    is always sent, even for a node CometBFT does not list yet: ``_identity`` may already
    hold it (an add committed moments ago), and "no node with that public key" makes a
    repeat harmless. Each step is idempotent, so a re-run resumes."""
    if node.validator_pub_key:  # no key: its home was never made, the chain cannot know it
        _identity_tx(network, "remove_node", {"public_key": homes.validator_key_hex(node)},
                     already_done="no node with that public key")
        _progress(operation_id, 40, f"validator update for {node.moniker} committed")
        _wait_left_set(network, node)
        _progress(operation_id, 70, f"{node.moniker} left the validator set")
    driver_for(network).delete_node(network_id=str(network.pk), node_id=str(node.pk))
    NodeKey.objects.filter(node=node).delete()
    node_transition(node_id=node.pk, to=NodeStatus.DELETED, health=NodeHealth.UNKNOWN)
    _sync_validator_count(str(network.pk), -1)


@shared_task(name="deploy.consortium_member_remove", **TASK_OPTIONS)
def consortium_member_remove_task(network_id: str, membership_id: int,
                                  operation_id: int | None = None) -> None:
    """Take a member out of a consortium: its validators leave the set and are deleted,
    its organisation and keys leave the chain (``_identity.remove_org``, signed by the
    owner), then its managed identity and membership go. Resumable step by step."""
    from deploy.models import NetworkMembership

    network = Network.objects.filter(pk=network_id).first()
    if network is None or not _begin(operation_id):
        return
    membership = NetworkMembership.objects.select_related("tenant").filter(
        pk=membership_id, network=network).first()
    if membership is None:
        _finish(operation_id, "already removed")
        return
    member = membership.tenant

    def body() -> None:
        nodes = list(network.nodes.filter(tenant=member).exclude(status=NodeStatus.DELETED)
                     .order_by("index"))
        for node in nodes:
            _take_out(network, node, operation_id)
            _progress(operation_id, 75, f"removed {node.moniker}")
        identity = NetworkIdentity.objects.filter(network=network, tenant=member).first()
        # A member that joined a stopped network and never transacted has a key but no
        # organisation on chain yet: nothing to take off, and no chain to ask.
        if identity is not None and (membership.org_registered_at is not None
                                     or network.status in NETWORK_LIVE):
            _identity_tx(network, "remove_org", {"id": identity.organisation_id},
                         already_done="does not exist")
            _progress(operation_id, 90, f"organisation {identity.organisation_id} and its "
                                        "keys are off the chain")
        with transaction.atomic():
            NetworkIdentity.objects.filter(network=network, tenant=member).delete()
            membership.delete()
        _finish(operation_id, f"{member.slug} is no longer a member")

    _run_guarded(network_id, operation_id, body, fail_network=False)
