"""Celery tasks of notify: shims over ``notify.services`` (idempotent, ids only)."""

from __future__ import annotations

from celery import shared_task

from notify import services

TASK_OPTIONS = {"acks_late": True, "reject_on_worker_lost": True}


# Below the delivery's lease (``services._lease_s``): a run stuck past the transport's own
# deadline is stopped before the sweep may send the delivery again.
_SOFT_LIMIT, _HARD_LIMIT = services.task_time_limits()


@shared_task(name="notify.delivery_attempt", soft_time_limit=_SOFT_LIMIT,
             time_limit=_HARD_LIMIT, **TASK_OPTIONS)
def delivery_attempt_task(delivery_id: str) -> None:
    services.delivery_attempt(delivery_id=delivery_id)


@shared_task(name="notify.deliveries_sweep", **TASK_OPTIONS)
def deliveries_sweep_task() -> int:
    return services.deliveries_sweep()
