"""The periodic reconciler and reaper (run by celery beat; see ``docs/operations.md``).

``reconcile`` compares what the database wants with what each driver reports:

- a node of a running/degraded network that is not running is started again (its restart
  count goes up), under a ``node.recover`` operation of the organisation that runs it
  (``deploy.recovery``); heights and health are refreshed from RPC; the network becomes
  ``degraded`` while any validator is down and ``running`` again once all are back;
- a driver that reports drift (kubernetes: objects edited or deleted in the cluster) gets
  the network's nodes applied again, which repairs it;
- a node of a stopped network that runs anyway is stopped;
- resources labelled with this install's id whose network or node the database does not
  know (or knows as deleted) are removed -- and only those: ownership comes from the
  driver's labels / records, never from names alone.

Bounded, so one cluster cannot stall the others: one pass at a time (a single-flight lock
in the shared cache; beat queues a pass every 15 s, a pass still running makes the next
exit at once), every API call under an overall deadline (``deploy.drivers._kube_api``),
and a cluster whose API server was unreachable or timed out (``driver_unavailable``,
``driver_timeout``) is skipped for the rest of the pass: its other networks wait for the
next pass instead of each waiting out the same timeout; a cluster that answers, but
slowly, gets ``CLUSTER_BUDGET_S`` of a pass (networks are visited in a new random order each
pass, so none is always the one left out). A drift repair that does not
change the drift backs off for ``DRIFT_BACKOFF_S`` instead of repeating every pass.

``reap`` fails operations stuck past their deadline, marks their network failed and stops
whatever of it still runs.
"""

from __future__ import annotations

import hashlib
import logging
import random
import time
import uuid
from collections import Counter
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from baas import events
from baas.choices import ACTIVE
from baas.metrics import add_totals
from baas.models import Operation
from baas.operation_kinds import kind_spec
from baas.operations import operation_progress, operations_reap
from deploy import conf, homes, rpc, states
from deploy.busy import busy_elsewhere
from deploy.choices import (
    NETWORK_BUSY,
    NETWORK_LIVE,
    NODE_SUPERVISED,
    DesiredState,
    NetworkStatus,
    NodeHealth,
    NodeStatus,
)
from deploy.drivers import Driver, DriverError, registry
from deploy.models import Network, Node
from deploy.recovery import (
    open_recoveries,
    recoveries_cancel,
    recovery_begin,
    recovery_done,
    recovery_step,
    restarting,
    upgrade_running,
)
from deploy.workflows.common import stop_everything

logger = logging.getLogger(__name__)


# One pass at a time, across processes (the cache is shared in production). The lock
# expires on its own after this long, so a worker killed mid-pass cannot block every later
# pass; a pass is bounded well below it by the drivers' per-request deadlines and the
# per-cluster skip.
LOCK_KEY = "deploy:reconcile:lock"
LOCK_TTL_S = 600
# A repair that left the drift exactly as it found it is tried again after this long.
DRIFT_BACKOFF_S = 900
# Codes that say the cluster itself cannot be reached: its other networks are skipped
# for the rest of the pass.
UNREACHABLE = frozenset({"driver_unavailable", "driver_timeout"})
# The time one cluster's networks may take of a pass; the rest of them wait for the next.
CLUSTER_BUDGET_S = 60.0
_clock = time.time  # wall time: the back-off is kept in the shared cache across processes


def reconcile() -> dict[str, int]:
    """One pass, unless another is still running (then ``{"skipped_busy": 1}``)."""
    token = uuid.uuid4().hex
    if not cache.add(LOCK_KEY, token, timeout=LOCK_TTL_S):
        logger.info("reconcile: the previous pass is still running; this one is skipped")
        return {"skipped_busy": 1}
    try:
        return _reconcile_pass()
    finally:
        if cache.get(LOCK_KEY) == token:  # never release a lock that expired and was retaken
            cache.delete(LOCK_KEY)


def record(counts: dict[str, int]) -> None:
    """A scheduled pass's figures for /metrics (``baas_reconciler_*``), added by the task
    after the pass; never fails it."""
    if counts.get("skipped_busy"):
        return
    try:
        add_totals("reconciler_passes", {"": 1})
        add_totals("reconciler_outcomes", counts)
    except Exception:  # noqa: BLE001 -- a metrics write must not turn a pass into a failure
        logger.exception("reconcile: recording the pass's metrics failed")


def _cluster_key(network: Network) -> str:
    return f"{network.driver}|{network.cluster_id or 'platform'}"


def _reconcile_pass() -> dict[str, int]:
    """A network or node that fails to reconcile, for any reason, is logged and counted,
    and the pass goes on: one bad row must never stop the others, the orphan clean-up or
    the resumption of stalled work."""
    counts: Counter[str] = Counter()
    unreachable: set[str] = set()
    spent: dict[str, float] = {}
    networks = list(Network.objects.filter(
        status__in=NETWORK_LIVE | {NetworkStatus.STOPPED, NetworkStatus.FAILED}
    ).select_related("tenant"))
    # A different order each pass: networks a slow cluster's budget leaves out this pass
    # come early in another.
    random.shuffle(networks)
    for network in networks:
        cluster = _cluster_key(network)
        if cluster in unreachable:
            counts["skipped_unreachable"] += 1
            continue
        if spent.get(cluster, 0.0) >= CLUSTER_BUDGET_S:
            if spent[cluster] != float("inf"):
                logger.warning("reconcile: %s used its %ss of this pass; its other networks "
                               "wait for the next pass", cluster, CLUSTER_BUDGET_S)
                spent[cluster] = float("inf")
            counts["skipped_over_budget"] += 1
            continue
        started = time.monotonic()
        try:
            if busy_elsewhere(network):
                # An export or backup is stopping and starting its validators itself: a
                # node it stopped is not a crash to repair.
                counts["skipped_copying"] += 1
                continue
            driver = registry.driver_for(network)
            if network.status in (NetworkStatus.STOPPED, NetworkStatus.FAILED):
                # Nothing of a stopped or failed network may run; a node whose stop failed
                # earlier is stopped here, pass after pass, until it is.
                counts["stopped_strays"] += _stop_strays(network, driver)
                why = ("the network was stopped" if network.status == NetworkStatus.STOPPED
                       else "the network failed")
                recoveries_cancel(network.nodes.values_list("pk", flat=True), why)
            else:
                _reconcile_live(network, driver, counts)
        except DriverError as exc:
            logger.warning("reconcile %s: %s", network.pk, exc)
            counts["driver_errors"] += 1
            if exc.code in UNREACHABLE:
                logger.warning("reconcile: %s is unreachable (%s); its other networks wait "
                               "for the next pass", cluster, exc.code)
                unreachable.add(cluster)
        except Exception:  # noqa: BLE001 -- isolate the failure to this network
            logger.exception("reconcile %s: unexpected error; the pass goes on", network.pk)
            counts["errors"] += 1
        finally:
            spent[cluster] = spent.get(cluster, 0.0) + time.monotonic() - started
    for name, step in (("orphans_removed", remove_orphans),
                       ("operations_resumed", resume_stalled),
                       ("key_removals_queued", sweep_signing_keys)):
        try:
            counts[name] += step()
        except Exception:  # noqa: BLE001
            logger.exception("reconcile: %s failed; the pass goes on", name)
            counts["errors"] += 1
    return dict(counts)


def sweep_signing_keys() -> int:
    """Keys that must leave the chain: those of expired tokens (revoked here: wiped at
    once), and revoked keys still on a running chain whose removal found the network
    stopped. Each gets a ``key.revoke`` operation, queued through the kind registry."""
    from django.db import transaction

    from baas.operations import operation_create
    from deploy.choices import OperationKind
    from deploy.models import SigningKey

    now = timezone.now()
    with transaction.atomic():
        expired = SigningKey.objects.select_for_update().filter(
            revoked_at__isnull=True, token__isnull=False, token__expires_at__lt=now)
        for key in expired:
            key.revoked_at, key.sealed_private_key = now, b""
            key.save(update_fields=["revoked_at", "sealed_private_key"])
    busy = set(Operation.objects.filter(kind=OperationKind.KEY_REVOKE, state__in=ACTIVE)
               .values_list("target_id", flat=True))
    spec = kind_spec(OperationKind.KEY_REVOKE)
    queued = 0
    for key in SigningKey.objects.filter(revoked_at__isnull=False, removed_at__isnull=True,
                                         network__status__in=NETWORK_LIVE):
        if str(key.pk) in busy or spec is None or spec.resume is None:
            continue
        with transaction.atomic():
            op = operation_create(tenant=key.tenant, actor=None, kind=OperationKind.KEY_REVOKE,
                                  target=("deploy.signingkey", key.pk))
            transaction.on_commit(lambda op=op: spec.resume(op))
        queued += 1
    return queued


def resume_stalled() -> int:
    """Queue again the work of every operation that stopped reporting, by kind, through
    the registry (``baas.operation_kinds``; deploy's kinds in ``deploy.operation_kinds``).

    A worker killed mid-task (OOM, deploy, ``kill -9``) may take its message with it: the
    filesystem broker has no redelivery and Redis redelivers only after its visibility
    timeout. Workflows are idempotent and resume from what the database and the driver
    already hold; the runner's claim keeps a late original run and the resumed one from
    both working (the stale one stops at its next heartbeat).
    """
    stall = timedelta(seconds=conf.setting("DEPLOY_STALL_S"))
    cutoff = timezone.now() - stall
    resumed = 0
    for op in Operation.objects.filter(state__in=ACTIVE, updated_at__lt=cutoff).order_by("id"):
        spec = kind_spec(op.kind)
        if spec is None or spec.resume is None:
            continue
        try:
            if not spec.resume(op):
                continue
        except Exception:  # noqa: BLE001 -- one bad row must not stop the others
            logger.exception("resuming operation %s failed", op.pk)
            continue
        operation_progress(
            operation_id=op.pk, percent=op.progress,
            message=f"no progress for {int(stall.total_seconds())}s: resuming",
            step="resuming_stalled", params={"seconds": int(stall.total_seconds())},
        )
        logger.warning("resuming stalled %s (operation %s)", op.kind, op.pk)
        resumed += 1
    return resumed


def _reconcile_live(network: Network, driver: Driver, counts: Counter[str]) -> None:
    if upgrade_running(network.pk):
        return  # its upgrade stops every node on purpose (the network is upgrading soon)
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
        try:
            healthy += _reconcile_node(network, node, driver, recoveries, now, counts)
        except DriverError as exc:
            if exc.code in UNREACHABLE:
                raise  # the cluster, not the node: the pass skips the rest of it
            logger.warning("reconcile node %s of %s failed: %s", node.pk, network.pk, exc)
            counts["errors"] += 1
        except Exception:  # noqa: BLE001 -- one node must not stop the others
            logger.exception("reconcile node %s of %s failed; the pass goes on",
                             node.pk, network.pk)
            counts["errors"] += 1
    counts["drift_repaired"] += _repair_drift(network, driver, nodes, busy)
    if nodes and healthy < len(nodes) and network.status == NetworkStatus.RUNNING:
        with transaction.atomic():  # the event goes with the state, or neither does
            states.network_transition(network_id=network.pk, to=NetworkStatus.DEGRADED)
            events.publish(tenant=network.tenant_id, type=events.NETWORK_DEGRADED,
                           data=_network_event(network, NetworkStatus.DEGRADED, nodes))
        counts["networks_degraded"] += 1
    elif nodes and healthy == len(nodes) and network.status == NetworkStatus.DEGRADED:
        with transaction.atomic():
            states.network_transition(network_id=network.pk, to=NetworkStatus.RUNNING)
            events.publish(tenant=network.tenant_id, type=events.NETWORK_RECOVERED,
                           data=_network_event(network, NetworkStatus.RUNNING, nodes))
        counts["networks_recovered"] += 1
    _publish_validators_down(network, nodes, now)


def _network_event(network: Network, status: str, nodes: list[Node]) -> dict[str, Any]:
    down = Node.objects.filter(pk__in=[n.pk for n in nodes]).exclude(
        health=NodeHealth.HEALTHY).values_list("moniker", flat=True)
    return {"network": {"id": str(network.pk), "name": network.name,
                        "chain_id": network.chain_id, "status": status},
            "nodes_down": sorted(down)}


def _publish_validators_down(network: Network, nodes: list[Node], now: Any) -> None:
    """``validator.down`` for each node not seen healthy for
    ``BAAS_WEBHOOK_VALIDATOR_DOWN_MINUTES``: once per outage (the key is the last time it
    was seen), however many passes it stays down."""
    minutes = int(getattr(settings, "BAAS_WEBHOOK_VALIDATOR_DOWN_MINUTES", 5))
    cutoff = now - timedelta(minutes=minutes)
    for node in Node.objects.filter(pk__in=[n.pk for n in nodes]).exclude(
            health=NodeHealth.HEALTHY):
        since = node.last_seen_at or node.created_at
        if since is None or since > cutoff:
            continue
        data = {
            "network": {"id": str(network.pk), "name": network.name,
                        "chain_id": network.chain_id},
            "node": {"id": str(node.pk), "moniker": node.moniker, "status": node.status,
                     "detail": node.detail, "restart_count": node.restart_count},
            "last_seen_at": node.last_seen_at, "minutes": minutes,
        }
        # The network's owner, and the consortium member that runs the node if another.
        for tenant_id in dict.fromkeys((network.tenant_id, node.tenant_id)):
            events.publish(tenant=tenant_id, type=events.VALIDATOR_DOWN, data=data,
                           dedupe_key=f"validator.down:{node.pk}:{since.isoformat()}")


def _repair_drift(network: Network, driver: Driver, nodes: list[Node], busy: set[str]) -> int:
    """A driver that can tell what changed under it (kubernetes: ``drift``, e.g. an edited
    StatefulSet, a deleted Service, a widened NetworkPolicy) gets the network's nodes applied
    again: ``apply_node`` is idempotent and puts back what it made (``repair_node`` when the
    driver has it: the same, keeping the replica count it last set).

    - What is left of nodes the database no longer has (an interrupted delete) is deleted,
      never applied again.
    - Right before each node's apply the network and the node are read again: a stop, a
      delete, an upgrade or any other operation the user started meanwhile wins, and the
      repair leaves the node alone.
    - A repair after which the drift is what it was before backs off for
      ``DRIFT_BACKOFF_S`` (logged once), instead of repeating every pass.
    Nodes a user's restart holds stopped are left to that restart."""
    drift = getattr(driver, "drift", None)
    if not callable(drift) or not nodes:
        return 0
    network_id = str(network.pk)
    _remove_leftovers(network, driver)
    items = drift(network_id=network_id)
    key = f"deploy:drift:{network_id}"
    if not items:
        cache.delete(key)
        return 0
    signature = hashlib.sha256("\n".join(items).encode()).hexdigest()
    last = cache.get(key) or {}
    if last.get("signature") == signature:
        retry_at = last.get("retry_at")
        if retry_at is None:  # the last repair changed nothing: say so once, then wait
            logger.warning("network %s: the drift repair did not change the drift (%s); "
                           "trying again in %ss", network_id, _summary(items), DRIFT_BACKOFF_S)
            cache.set(key, {"signature": signature, "retry_at": _clock() + DRIFT_BACKOFF_S},
                      timeout=DRIFT_BACKOFF_S * 4)
            return 0
        if _clock() < retry_at:
            return 0
    logger.warning("network %s drifted (%s); applying its nodes again", network_id,
                   _summary(items))
    apply = getattr(driver, "repair_node", driver.apply_node)
    repaired = 0
    for node in nodes:
        if str(node.pk) in busy:
            continue
        if not _repair_wanted(network.pk, node.pk):
            logger.info("network %s: node %s changed meanwhile; not repairing it",
                        network_id, node.pk)
            continue
        try:
            apply(homes.node_spec(node))
        except DriverError as exc:  # one node must not stop the repair of the others
            if exc.code in UNREACHABLE:
                raise
            logger.warning("re-applying node %s of %s failed: %s", node.pk, network_id, exc)
            continue
        repaired += 1
        if not _repair_wanted(network.pk, node.pk, any_operation=False) and \
                _network_gone(network.pk):
            # A delete finished between the check above and the apply, which recreated the
            # namespace: take it away again rather than leave a deleted network's objects.
            logger.warning("network %s was deleted during its repair; removing it again",
                           network_id)
            driver.delete_network(network_id=network_id)
            return repaired
    if repaired:
        # Only a repair that ran arms the back-off: drift left alone because an operation
        # was busy is repaired as soon as the operation ends, not DRIFT_BACKOFF_S later.
        cache.set(key, {"signature": signature, "retry_at": None},
                  timeout=DRIFT_BACKOFF_S * 4)
    return repaired


def _network_gone(network_pk: Any) -> bool:
    status = Network.objects.filter(pk=network_pk).values_list("status", flat=True).first()
    return status in (None, NetworkStatus.DELETING, NetworkStatus.DELETED)


def _summary(items: list[str]) -> str:
    return "; ".join(items[:5]) + (" ..." if len(items) > 5 else "")


def _repair_wanted(network_pk: Any, node_pk: Any, *, any_operation: bool = True) -> bool:
    """Read now, not at the start of the pass: the network still runs and is meant to, no
    operation (stop, delete, upgrade, validator change, ...) works on it (only no upgrade,
    with ``any_operation`` False: crash recovery goes on during a validator add), the node
    is still supervised and no restart holds it."""
    row = Network.objects.filter(pk=network_pk).values_list("status", "desired_state").first()
    if row is None or row[0] not in NETWORK_LIVE or row[1] != DesiredState.RUNNING:
        return False
    if any_operation and Operation.objects.filter(
            target_type="deploy.network", target_id=str(network_pk), state__in=ACTIVE).exists():
        return False
    if upgrade_running(network_pk):
        return False
    status = Node.objects.filter(pk=node_pk).values_list("status", flat=True).first()
    if status not in NODE_SUPERVISED:
        return False
    return not restarting([node_pk])


def _remove_leftovers(network: Network, driver: Driver) -> int:
    """Delete the objects of nodes the database does not know (or knows as deleted): on a
    cluster the orphan sweep does not list (a registered one), a node whose delete broke
    off would otherwise run on, or be drift forever. Never while an operation works on
    the network (a validator being added or removed)."""
    node_ids = getattr(driver, "node_ids", None)
    if not callable(node_ids):
        return 0
    # The cluster is listed FIRST and the database read after: a validator add saves its
    # node row before it applies anything, so every node listed here is in the rows read
    # below, even one whose add began while the (slow) listing ran. Read the other way
    # round, such a node would look like a leftover and be deleted mid-add.
    listed = set(node_ids(network_id=str(network.pk)))
    if Operation.objects.filter(
            target_type="deploy.network", target_id=str(network.pk), state__in=ACTIVE).exists():
        return 0
    known = {str(pk) for pk in Node.objects.filter(network=network)
             .exclude(status=NodeStatus.DELETED).values_list("pk", flat=True)}
    removed = 0
    for node_id in sorted(listed - known):
        logger.info("network %s: removing what is left of node %s", network.pk, node_id)
        driver.delete_node(network_id=str(network.pk), node_id=node_id)
        removed += 1
    return removed


def _reconcile_node(network: Network, node: Node, driver: Driver, recoveries: dict[str, Any],
                    now: Any, counts: Counter[str]) -> int:
    """Bring one node toward running; 1 if it is healthy now, else 0."""
    state = driver.inspect_node(network_id=str(network.pk), node_id=str(node.pk))
    if not state.running and not _repair_wanted(network.pk, node.pk, any_operation=False):
        return 0  # a stop, delete or upgrade came in during the pass: not a crash
    if not state.running:
        # Crashed (or lost by the runtime): record it, then bring it back.
        reason = state.detail or "not running"
        states.node_transition(
            node_id=node.pk, to=NodeStatus.CRASHED, health=NodeHealth.UNHEALTHY,
            detail=reason,
        )
        op = recoveries[str(node.pk)] = recovery_begin(node, reason)
        try:
            started = driver.apply_node(homes.node_spec(node))
        except DriverError as exc:
            # One node that cannot come back (its port taken, say) must not stop the
            # pass: the network still goes degraded and the other nodes are looked at.
            states.node_transition(node_id=node.pk, to=NodeStatus.CRASHED,
                            detail=f"restart failed: {exc.message}"[:255])
            recovery_step(op, 10, f"restart failed ({exc.code}: {exc.message}); "
                                  "the next pass tries again")
            counts["restart_failures"] += 1
            return 0
        states.node_transition(
            node_id=node.pk, to=NodeStatus.STARTING, rpc_url=started.rpc_url or node.rpc_url,
            restart_count=node.restart_count + 1, detail=started.detail,
        )
        recovery_step(op, 50, f"started {node.moniker} again (restart "
                              f"{node.restart_count + 1}); waiting for it to serve")
        counts["nodes_restarted"] += 1
        return 0
    rpc_url = state.rpc_url or node.rpc_url
    try:
        info = rpc.status(rpc_url, timeout=2.0)
    except rpc.RpcError as exc:
        states.node_transition(
            node_id=node.pk, to=node.status, health=NodeHealth.UNHEALTHY,
            detail=str(exc)[:255], rpc_url=rpc_url,
        )
        return 0
    states.node_transition(
        node_id=node.pk, to=NodeStatus.RUNNING, health=NodeHealth.HEALTHY,
        height=info.height, last_seen_at=now, rpc_url=rpc_url,
        restart_count=max(node.restart_count, state.restart_count),
    )
    if str(node.pk) in recoveries:
        recovery_done(recoveries[str(node.pk)], node, info.height)
    return 1


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
    for name in registry.AVAILABLE_DRIVERS:
        try:
            driver = registry.get_driver(name)
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
        states.network_fail(
            network_id=network.pk, code="deadline_exceeded",
            message=f"{latest.kind} did not finish before its deadline "
                    f"({latest.deadline:%Y-%m-%d %H:%M:%S} UTC).",
        )
        stop_everything(str(network.pk))
    return reaped
