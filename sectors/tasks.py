"""Celery tasks of sectors: shims that run a workflow in the operation runner."""

from __future__ import annotations

from celery import shared_task

from baas.runner import run_operation
from deploy import conf
from sectors import workflows

TASK_OPTIONS = {"acks_late": True, "reject_on_worker_lost": True}


@shared_task(name="sectors.deployment_deploy", **TASK_OPTIONS)
def deployment_deploy_task(deployment_id: str, operation_id: int | None = None) -> None:
    run_operation(operation_id, lambda run: workflows.deploy(run, deployment_id),
                  on_failure=workflows.failure_policy(deployment_id),
                  stale_after_s=float(conf.setting("DEPLOY_STALL_S")),
                  label=f"template deploy {deployment_id}")
