"""Operations for the reconciler's own repairs: a crashed node brought back is lifecycle
work like any other, so the organisation that runs the node sees it in its operations
(``node.recover``), with steps, and in its audit log.

One operation per outage: it opens when a pass finds the node not running, takes a step
on every further attempt (a port still taken, say) rather than opening another, and
succeeds on the pass that sees the node serve again. If the node never comes back, the
reaper fails it at its deadline (``DEPLOY_START_DEADLINE_S``) with the reason.
"""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction

from baas.choices import ACTIVE, OperationState
from baas.models import Operation
from baas.operations import operation_create, operation_progress, operation_transition
from deploy import conf, platform
from deploy.choices import OperationKind
from deploy.models import Node


def _open(node: Node) -> Operation | None:
    return (
        Operation.objects.filter(
            kind=OperationKind.NODE_RECOVER, target_type="deploy.node",
            target_id=str(node.pk), state__in=ACTIVE,
        )
        .order_by("-created_at", "-id")
        .first()
    )


def recovery_begin(node: Node, reason: str) -> Operation:
    """The node was found not running: open its recovery operation (or note another try)."""
    op = _open(node)
    if op is not None:
        return operation_progress(operation_id=op.pk, percent=op.progress,
                                  message=f"still not running ({reason}); starting it again")
    with transaction.atomic():
        op = operation_create(
            tenant=node.tenant, actor=None, kind=OperationKind.NODE_RECOVER,
            target=("deploy.node", node.pk),
            deadline=timedelta(seconds=conf.setting("DEPLOY_START_DEADLINE_S")),
        )
        operation_transition(operation_id=op.pk, to=OperationState.RUNNING,
                             message=f"the reconciler found {node.moniker} not running: {reason}")
        platform.audit(tenant=node.tenant, actor=None, action="node.recover", target=node,
                       metadata={"reason": reason[:200]})
    return op


def recovery_step(op: Operation, percent: int, message: str) -> None:
    operation_progress(operation_id=op.pk, percent=percent, message=message)


def recovery_done(node: Node, height: int) -> None:
    """The node serves again: close its open recovery, if it has one."""
    op = _open(node)
    if op is not None:
        operation_transition(operation_id=op.pk, to=OperationState.SUCCEEDED,
                             message=f"{node.moniker} serves again at height {height}")
