"""Celery tasks of deploy: shims that connect a message to a workflow (``deploy.workflows``)
run by the operation runner (``baas.runner``), and nothing else.

Every task takes ids and can be delivered twice without harm (``acks_late``): the runner
lets one delivery claim the operation and the others exit; workflows resume from what the
database and the driver already hold. How a failure affects the network is each
workflow's failure policy, never "whatever the task was doing when it broke".
"""

from __future__ import annotations

from typing import Any

from celery import shared_task

from baas.runner import Run, Superseded, run_operation
from deploy import conf, reconcile
from deploy.choices import DesiredState
from deploy.workflows import (
    chaincode,
    keys,
    lifecycle,
    membership,
    provision,
    upgrade,
    validators,
)
from deploy.workflows.common import network_policy

TASK_OPTIONS: dict[str, Any] = {"acks_late": True, "reject_on_worker_lost": True}


def _stale_after() -> float:
    return float(conf.setting("DEPLOY_STALL_S"))


def _run(operation_id: int | None, body: Any, **kwargs: Any) -> None:
    run_operation(operation_id, body, stale_after_s=_stale_after(), **kwargs)


@shared_task(name="deploy.network_provision", **TASK_OPTIONS)
def network_provision_task(network_id: str, operation_id: int | None = None) -> None:
    _run(operation_id, lambda run: provision.provision(run, network_id),
         on_failure=network_policy(network_id, expected=provision.PROVISIONING,
                                   desired=DesiredState.RUNNING),
         label=f"provision {network_id}")


@shared_task(name="deploy.network_start", **TASK_OPTIONS)
def network_start_task(network_id: str, operation_id: int | None = None) -> None:
    _run(operation_id, lambda run: provision.start(run, network_id),
         on_failure=network_policy(network_id, expected=provision.STARTING,
                                   desired=DesiredState.RUNNING),
         label=f"start {network_id}")


@shared_task(name="deploy.network_stop", **TASK_OPTIONS)
def network_stop_task(network_id: str, operation_id: int | None = None) -> None:
    _run(operation_id, lambda run: lifecycle.stop(run, network_id),
         on_failure=network_policy(network_id, expected=lifecycle.STOPPING,
                                   desired=DesiredState.STOPPED),
         label=f"stop {network_id}")


@shared_task(name="deploy.network_delete", **TASK_OPTIONS)
def network_delete_task(network_id: str, operation_id: int | None = None) -> None:
    _run(operation_id, lambda run: lifecycle.delete(run, network_id),
         on_failure=network_policy(network_id, expected=lifecycle.DELETING,
                                   desired=DesiredState.DELETED),
         label=f"delete {network_id}")


@shared_task(name="deploy.node_restart", **TASK_OPTIONS)
def node_restart_task(node_id: str, operation_id: int | None = None) -> None:
    _run(operation_id, lambda run: lifecycle.node_restart(run, node_id),
         on_cancel=lambda run: lifecycle.restart_cancelled(node_id),
         label=f"restart node {node_id}")


@shared_task(name="deploy.validator_add", **TASK_OPTIONS)
def validator_add_task(network_id: str, operation_id: int | None = None) -> None:
    def give_up(code: str, message: str) -> None:
        validators.give_up_pending(network_id)

    _run(operation_id, lambda run: validators.add(run, network_id), on_failure=give_up,
         on_cancel=lambda run: validators.give_up_pending(network_id),
         label=f"add validator to {network_id}")


@shared_task(name="deploy.validator_remove", **TASK_OPTIONS)
def validator_remove_task(node_id: str, operation_id: int | None = None) -> None:
    _run(operation_id, lambda run: validators.remove(run, node_id),
         label=f"remove validator {node_id}")


@shared_task(name="deploy.consortium_org_add", **TASK_OPTIONS)
def consortium_org_add_task(network_id: str, tenant_id: int,
                            operation_id: int | None = None) -> None:
    """Register a consortium member's organisation on the running chain."""
    from tenants.models import Tenant

    def body(run: Run) -> None:
        tenant = Tenant.objects.filter(pk=tenant_id).first()
        if tenant is None:
            raise Superseded(reason="The organisation no longer exists.")
        membership.org_add(run, network_id, tenant)

    _run(operation_id, body, label=f"register organisation {tenant_id} on {network_id}")


@shared_task(name="deploy.consortium_member_remove", **TASK_OPTIONS)
def consortium_member_remove_task(network_id: str, membership_id: int,
                                  operation_id: int | None = None) -> None:
    _run(operation_id, lambda run: membership.member_remove(run, network_id, membership_id),
         label=f"remove member {membership_id} of {network_id}")


@shared_task(name="deploy.chaincode_install", **TASK_OPTIONS)
def chaincode_install_task(network_id: str, operation_id: int | None = None) -> None:
    _run(operation_id, lambda run: chaincode.install(run, network_id),
         label=f"install chaincode on {network_id}")


@shared_task(name="deploy.signing_key_revoke", **TASK_OPTIONS)
def signing_key_revoke_task(key_id: str, operation_id: int | None = None) -> None:
    _run(operation_id, lambda run: keys.revoke(run, key_id), label=f"revoke key {key_id}")


@shared_task(name="deploy.network_upgrade", **TASK_OPTIONS)
def network_upgrade_task(network_id: str, operation_id: int | None = None) -> None:
    _run(operation_id, lambda run: upgrade.upgrade(run, network_id),
         on_failure=upgrade.policy(network_id, operation_id), label=f"upgrade {network_id}")


@shared_task(name="deploy.reconcile")
def reconcile_task() -> dict[str, int]:
    counts = reconcile.reconcile()
    reconcile.record(counts)
    return counts


@shared_task(name="deploy.reap")
def reap_task() -> list[int]:
    return reconcile.reap()

