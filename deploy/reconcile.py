"""The periodic reconciler and reaper (run by celery beat; see ``docs/operations.md``).

``reconcile`` compares what the database wants with what each driver reports:

- a node of a running/degraded network that is not running is started again (its restart
  count goes up), under a ``node.recover`` operation of the organisation that runs it
  (``deploy.recovery``); heights and health are refreshed from RPC; the network becomes
  ``degraded`` while any validator is down and ``running`` again once all are back;
- a node of a stopped network that runs anyway is stopped;
- resources labelled with this install's id whose network or node the database does not
  know (or knows as deleted) are removed -- and only those: ownership comes from the
  driver's labels / records, never from names alone.

``reap`` fails operations stuck past their deadline, marks their network failed and stops
whatever of it still runs.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import timedelta
from typing import Any

from django.utils import timezone

from baas.choices import ACTIVE
from baas.models import Operation
from baas.operations import operation_progress, operations_reap
from deploy import conf, homes, rpc
from deploy.choices import (
    NETWORK_BUSY,
    NETWORK_LIVE,
    NODE_SUPERVISED,
    NetworkStatus,
    NodeHealth,
    NodeStatus,
)
from deploy.drivers import AVAILABLE_DRIVERS, Driver, DriverError, get_driver
from deploy.models import Network, Node
from deploy.recovery import (
    open_recoveries,
    recoveries_cancel,
    recovery_begin,
    recovery_done,
    recovery_step,
    restarting,
)
from deploy.services import network_fail, network_transition, node_transition

logger = logging.getLogger(__name__)


def reconcile() -> dict[str, int]:
    counts: Counter[str] = Counter()
    drivers: dict[str, Driver] = {}
    for network in Network.objects.filter(
        status__in=NETWORK_LIVE | {NetworkStatus.STOPPED}
    ).select_related("tenant"):
        try:
            driver = drivers.get(network.driver) or get_driver(network.driver)
            drivers[network.driver] = driver
            if network.status == NetworkStatus.STOPPED:
                counts["stopped_strays"] += _stop_strays(network, driver)
                recoveries_cancel(network.nodes.values_list("pk", flat=True),
                                  "the network was stopped")
            else:
                _reconcile_live(network, driver, counts)
        except DriverError as exc:
            logger.warning("reconcile %s: %s", network.pk, exc)
            counts["driver_errors"] += 1
    counts["orphans_removed"] += remove_orphans()
    counts["operations_resumed"] += resume_stalled()
    return dict(counts)


def _task_for(status: str) -> Any:
    from deploy import tasks

    return {
        NetworkStatus.REQUESTED: tasks.network_provision_task,
        NetworkStatus.PROVISIONING: tasks.network_provision_task,
        NetworkStatus.STARTING: tasks.network_start_task,
        NetworkStatus.STOPPING: tasks.network_stop_task,
        NetworkStatus.DELETING: tasks.network_delete_task,
    }.get(status)


def resume_stalled() -> int:
    """Queue again the task of a busy network whose operation stopped reporting.

    A worker killed mid-task (OOM, deploy, ``kill -9``) may take its message with it: the
    filesystem broker has no redelivery and Redis redelivers only after its visibility
    timeout. Tasks are idempotent and resume from what the database and the driver
    already hold, so running one again converges instead of duplicating nodes.
    """
    stall = timedelta(seconds=conf.setting("DEPLOY_STALL_S"))
    cutoff = timezone.now() - stall
    resumed = 0
    for network in Network.objects.filter(status__in=NETWORK_BUSY):
        op = (
            Operation.objects.filter(
                target_type="deploy.network", target_id=str(network.pk), state__in=ACTIVE
            )
            .order_by("-created_at", "-id")
            .first()
        )
        task = _task_for(network.status)
        if op is None or task is None or op.updated_at > cutoff:
            continue
        operation_progress(
            operation_id=op.pk, percent=op.progress,
            message=f"no progress for {int(stall.total_seconds())}s: resuming",
        )
        logger.warning("resuming stalled %s of network %s", op.kind, network.pk)
        task.delay(str(network.pk), op.pk)
        resumed += 1
    return resumed


def _reconcile_live(network: Network, driver: Driver, counts: Counter[str]) -> None:
    # Pending nodes belong to a running validator-add task; failed ones were given up on.
    nodes = list(network.nodes.filter(status__in=NODE_SUPERVISED).order_by("index"))
    healthy = 0
    now = timezone.now()
    node_ids = [n.pk for n in nodes]
    recoveries = open_recoveries(node_ids)  # one query per network, not per node
    busy = restarting(node_ids)
    for node in nodes:
        if str(node.pk) in busy:
            continue  # a user's restart has it stopped on purpose; its task reports
        state = driver.inspect_node(network_id=str(network.pk), node_id=str(node.pk))
        if not state.running:
            # Crashed (or lost by the runtime): record it, then bring it back.
            reason = state.detail or "not running"
            node_transition(
                node_id=node.pk, to=NodeStatus.CRASHED, health=NodeHealth.UNHEALTHY,
                detail=reason,
            )
            op = recoveries[str(node.pk)] = recovery_begin(node, reason)
            try:
                started = driver.apply_node(homes.node_spec(node))
            except DriverError as exc:
                # One node that cannot come back (its port taken, say) must not stop the
                # pass: the network still goes degraded and the other nodes are looked at.
                node_transition(node_id=node.pk, to=NodeStatus.CRASHED,
                                detail=f"restart failed: {exc.message}"[:255])
                recovery_step(op, 10, f"restart failed ({exc.code}: {exc.message}); "
                                      "the next pass tries again")
                counts["restart_failures"] += 1
                continue
            node_transition(
                node_id=node.pk, to=NodeStatus.STARTING, rpc_url=started.rpc_url or node.rpc_url,
                restart_count=node.restart_count + 1, detail=started.detail,
            )
            recovery_step(op, 50, f"started {node.moniker} again (restart "
                                  f"{node.restart_count + 1}); waiting for it to serve")
            counts["nodes_restarted"] += 1
            continue
        rpc_url = state.rpc_url or node.rpc_url
        try:
            info = rpc.status(rpc_url, timeout=2.0)
        except rpc.RpcError as exc:
            node_transition(
                node_id=node.pk, to=node.status, health=NodeHealth.UNHEALTHY,
                detail=str(exc)[:255], rpc_url=rpc_url,
            )
            continue
        node_transition(
            node_id=node.pk, to=NodeStatus.RUNNING, health=NodeHealth.HEALTHY,
            height=info.height, last_seen_at=now, rpc_url=rpc_url,
            restart_count=max(node.restart_count, state.restart_count),
        )
        if str(node.pk) in recoveries:
            recovery_done(recoveries[str(node.pk)], node, info.height)
        healthy += 1
    if nodes and healthy < len(nodes) and network.status == NetworkStatus.RUNNING:
        network_transition(network_id=network.pk, to=NetworkStatus.DEGRADED)
        counts["networks_degraded"] += 1
    elif nodes and healthy == len(nodes) and network.status == NetworkStatus.DEGRADED:
        network_transition(network_id=network.pk, to=NetworkStatus.RUNNING)
        counts["networks_recovered"] += 1


def _stop_strays(network: Network, driver: Driver) -> int:
    stopped = 0
    for node in network.nodes.exclude(status=NodeStatus.DELETED):
        state = driver.inspect_node(network_id=str(network.pk), node_id=str(node.pk))
        if state.running:
            driver.stop_node(network_id=str(network.pk), node_id=str(node.pk))
            stopped += 1
    return stopped


def remove_orphans() -> int:
    """Delete driver resources of this install that the database does not account for."""
    removed = 0
    install = homes.install_id()
    for name in AVAILABLE_DRIVERS:
        try:
            driver = get_driver(name)
            # Not driver.check(): a missing or stale node image stops new nodes, not the
            # clean-up of old ones; listing fails on its own when the engine is down.
            owned = driver.list_owned(install_id=install)
        except DriverError:
            continue  # e.g. Docker not running here: nothing of ours can run there either
        network_ids = {r.network_id for r in owned if r.network_id}
        known = {
            str(pk): status
            for pk, status in Network.objects.filter(pk__in=_valid_uuids(network_ids))
            .values_list("pk", "status")
        }
        for network_id in sorted(network_ids):
            status = known.get(network_id)
            if status is None or status == NetworkStatus.DELETED:
                logger.info("removing orphaned %s resources of network %s", name, network_id)
                _quietly(driver.delete_network, network_id=network_id)
                removed += 1
                continue
            if status in NETWORK_BUSY:
                continue  # a task is working on it; its nodes may not be recorded yet
            live_nodes = {
                str(pk) for pk in Node.objects.filter(network_id=network_id)
                .exclude(status=NodeStatus.DELETED).values_list("pk", flat=True)
            }
            for res in owned:
                if res.network_id == network_id and res.node_id and res.node_id not in live_nodes:
                    _quietly(driver.delete_node, network_id=network_id, node_id=res.node_id)
                    removed += 1
    return removed


def _valid_uuids(values: set[str]) -> list[str]:
    import uuid

    valid = []
    for value in values:
        try:
            valid.append(str(uuid.UUID(value)))
        except ValueError:
            continue
    return valid


def _quietly(fn: Any, **kwargs: Any) -> None:
    try:
        fn(**kwargs)
    except DriverError as exc:
        logger.warning("orphan clean-up failed: %s", exc)


def reap() -> list[int]:
    """Fail operations past their deadline; a network left busy by one goes failed.

    The platform-wide reaper (``baas``) may have failed the operation first, so networks
    are matched by their latest operation rather than by what this call reaped.
    """
    reaped = operations_reap()
    for network in Network.objects.filter(status__in=NETWORK_BUSY):
        ops = Operation.objects.filter(target_type="deploy.network", target_id=str(network.pk))
        if ops.filter(state__in=ACTIVE).exists():
            continue
        latest = ops.order_by("-created_at", "-id").first()
        if latest is None or latest.error_code != "deadline_exceeded":
            continue
        network_fail(
            network_id=network.pk,
            error=DriverError(
                "deadline_exceeded",
                f"{latest.kind} did not finish before its deadline "
                f"({latest.deadline:%Y-%m-%d %H:%M:%S} UTC).",
            ),
        )
        # The reconciler leaves failed networks alone, so nothing may keep running here.
        from deploy.tasks import _stop_everything

        _stop_everything(str(network.pk))
    return reaped
