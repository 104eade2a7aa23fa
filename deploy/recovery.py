"""Operations for the reconciler's own repairs: a crashed node brought back is lifecycle
work like any other, so the organisation that runs the node sees it in its operations
(``node.recover``), with steps, and in its audit log.

One operation per outage: it opens when a pass finds the node not running, takes a step
on every further attempt (a port still taken, say) rather than opening another, and
succeeds on the first pass that sees the node serve again. If the node never comes back,
the reaper fails it at its deadline (``DEPLOY_START_DEADLINE_S``) with the reason; if the
network is stopped or deleted meanwhile, the operation is cancelled saying so.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from django.db import transaction

from baas.choices import ACTIVE, OperationState
from baas.errors import InvalidTransition
from baas.models import Operation
from baas.operations import operation_create, operation_progress, operation_transition
from deploy import conf, platform
from deploy.choices import OperationKind
from deploy.models import Node


def _active(kind: str, node_ids: Iterable[Any]) -> Any:
    return Operation.objects.filter(kind=kind, target_type="deploy.node",
                                    target_id__in=[str(pk) for pk in node_ids],
                                    state__in=ACTIVE)


def upgrade_running(network_id: Any) -> bool:
    """A ``network.upgrade`` of the network has started: it stops and starts every node
    itself, so the reconciler must not bring back a node it just stopped."""
    return Operation.objects.filter(kind=OperationKind.NETWORK_UPGRADE,
                                    target_type="deploy.network",
                                    target_id=str(network_id), state="running").exists()


def open_recoveries(node_ids: Iterable[Any]) -> dict[str, int]:
    """Node id -> its open ``node.recover`` operation, for a pass over one network."""
    return dict(_active(OperationKind.NODE_RECOVER, node_ids)
                .order_by("created_at", "id").values_list("target_id", "id"))


def restarting(node_ids: Iterable[Any]) -> set[str]:
    """Nodes a user's ``node.restart`` is working on: the reconciler leaves them to it."""
    return set(_active(OperationKind.NODE_RESTART, node_ids).values_list("target_id",
                                                                          flat=True))


def recovery_begin(node: Node, reason: str) -> int:
    """The node was found not running: open its recovery operation, or note another try
    on the open one. The node row is locked so two overlapping passes open one."""
    with transaction.atomic():
        Node.objects.select_for_update().filter(pk=node.pk).first()
        op_id = open_recoveries([node.pk]).get(str(node.pk))
        if op_id is not None:
            op = Operation.objects.get(pk=op_id)
            operation_progress(operation_id=op_id, percent=op.progress,
                               message=f"still not running ({reason}); starting it again")
            return op_id
        op = operation_create(
            tenant=node.tenant, actor=None, kind=OperationKind.NODE_RECOVER,
            target=("deploy.node", node.pk),
            deadline=timedelta(seconds=conf.setting("DEPLOY_START_DEADLINE_S")),
        )
        operation_transition(operation_id=op.pk, to=OperationState.RUNNING,
                             message=f"the reconciler found {node.moniker} not running: {reason}")
        platform.audit(tenant=node.tenant, actor=None, action="node.recover", target=node,
                       metadata={"reason": reason[:200]})
    return op.pk


def recovery_step(op_id: int, percent: int, message: str) -> None:
    operation_progress(operation_id=op_id, percent=percent, message=message)


def recovery_done(op_id: int, node: Node, height: int) -> None:
    """The node serves again: close its recovery (unless the reaper just did)."""
    with contextlib.suppress(InvalidTransition):
        operation_transition(operation_id=op_id, to=OperationState.SUCCEEDED,
                             message=f"{node.moniker} serves again at height {height}")


def recoveries_cancel(node_ids: Iterable[Any], why: str) -> int:
    """Close the open recoveries of nodes that are no longer supervised (their network was
    stopped or deleted); returns how many."""
    closed = 0
    for op_id in open_recoveries(node_ids).values():
        with contextlib.suppress(InvalidTransition):  # the reaper may have got there first
            operation_transition(operation_id=op_id, to=OperationState.CANCELLED, message=why)
            closed += 1
    return closed
