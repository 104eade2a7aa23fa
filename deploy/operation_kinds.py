"""Deploy's operation kinds in the registry (``baas.operation_kinds``): how the reconciler
resumes each one when it stalls, and which ones a user may cancel.

Work on a whole network (an upgrade too), validator removal and member removal cannot be
cancelled: the
user's way back is the opposite request once it ends (start a stopped network), and a
half-cancelled delete or removal would leave the network between two states that nothing
drives forward.
"""

from __future__ import annotations

from typing import Any

from baas.operation_kinds import register_kind
from deploy import tasks
from deploy.choices import NetworkStatus, OperationKind
from deploy.models import Network

_NETWORK_WORK = {
    OperationKind.NETWORK_CREATE: (tasks.network_provision_task,
                                   {NetworkStatus.REQUESTED, NetworkStatus.PROVISIONING}),
    OperationKind.NETWORK_START: (tasks.network_start_task, {NetworkStatus.STARTING}),
    OperationKind.NETWORK_STOP: (tasks.network_stop_task, {NetworkStatus.STOPPING}),
    OperationKind.NETWORK_DELETE: (tasks.network_delete_task, {NetworkStatus.DELETING}),
    # Queued while the network still runs; upgrading once its validators are stopped.
    OperationKind.NETWORK_UPGRADE: (tasks.network_upgrade_task,
                                    {NetworkStatus.RUNNING, NetworkStatus.UPGRADING}),
}

NOT_CANCELLABLE = (
    "Work on a whole network, and removing a validator or a member, cannot be cancelled "
    "halfway; wait for it to end, then ask for the opposite if you changed your mind."
)


def _network_resumer(kind: str):
    task, statuses = _NETWORK_WORK[kind]

    def resume(op: Any) -> bool:
        # Only while the network is still where this work left it: a create waiting for
        # platform approval, or a network the user has since moved on, is not resumed.
        status = Network.objects.filter(pk=op.target_id).values_list("status", flat=True).first()
        if status not in statuses:
            return False
        task.delay(op.target_id, op.pk)
        return True

    return resume


def _by_target(task: Any):
    def resume(op: Any) -> bool:
        task.delay(op.target_id, op.pk)
        return True

    return resume


def _by_param(task: Any, name: str, *, with_network: bool = False):
    def resume(op: Any) -> bool:
        value = op.params.get(name)
        if value is None:
            return False
        if with_network:
            task.delay(op.target_id, value, op.pk)
        else:
            task.delay(value, op.pk)
        return True

    return resume


def _org_add(op: Any) -> bool:
    tasks.consortium_org_add_task.delay(op.target_id, op.tenant_id, op.pk)
    return True


def register() -> None:
    for kind in _NETWORK_WORK:
        register_kind(kind, resume=_network_resumer(kind), cancellable=False,
                      not_cancellable_reason=NOT_CANCELLABLE)
    register_kind(OperationKind.NODE_RESTART, resume=_by_target(tasks.node_restart_task))
    register_kind(OperationKind.VALIDATOR_ADD, resume=_by_target(tasks.validator_add_task))
    register_kind(OperationKind.VALIDATOR_REMOVE,
                  resume=_by_param(tasks.validator_remove_task, "node_id"),
                  cancellable=False, not_cancellable_reason=NOT_CANCELLABLE)
    register_kind(OperationKind.MEMBER_REMOVE,
                  resume=_by_param(tasks.consortium_member_remove_task, "membership_id",
                                   with_network=True),
                  cancellable=False, not_cancellable_reason=NOT_CANCELLABLE)
    register_kind(OperationKind.ORG_ADD, resume=_org_add)
    register_kind(OperationKind.CHAINCODE_INSTALL, resume=_by_target(tasks.chaincode_install_task),
                  cancellable=False, not_cancellable_reason=NOT_CANCELLABLE)
    register_kind(OperationKind.KEY_REVOKE, resume=_by_target(tasks.signing_key_revoke_task),
                  cancellable=False, not_cancellable_reason=NOT_CANCELLABLE)
    # node.recover is the reconciler's own bookkeeping: the next pass carries it on.
    register_kind(OperationKind.NODE_RECOVER)
