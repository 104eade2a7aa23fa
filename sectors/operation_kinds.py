"""Sectors' operation kinds in the registry (``baas.operation_kinds``)."""

from __future__ import annotations

from typing import Any

from baas.operation_kinds import register_kind
from sectors import tasks
from sectors.choices import TEMPLATE_DEPLOY, DeploymentStatus
from sectors.models import Deployment


def _resume_deploy(op: Any) -> bool:
    # Only while the deployment still waits for this work.
    status = Deployment.objects.filter(pk=op.target_id).values_list("status", flat=True).first()
    if status != DeploymentStatus.DEPLOYING:
        return False
    tasks.deployment_deploy_task.delay(op.target_id, op.pk)
    return True


def register() -> None:
    register_kind(TEMPLATE_DEPLOY, resume=_resume_deploy, cancellable=False,
                  not_cancellable_reason=(
                      "A template deploy cannot be cancelled halfway; wait for it to end."))
