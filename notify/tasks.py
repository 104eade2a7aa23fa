"""Celery tasks of notify: shims over ``notify.services`` (idempotent, ids only)."""

from __future__ import annotations

from celery import shared_task

from notify import services

TASK_OPTIONS = {"acks_late": True, "reject_on_worker_lost": True}


@shared_task(name="notify.delivery_attempt", **TASK_OPTIONS)
def delivery_attempt_task(delivery_id: str) -> None:
    services.delivery_attempt(delivery_id=delivery_id)


@shared_task(name="notify.deliveries_sweep", **TASK_OPTIONS)
def deliveries_sweep_task() -> int:
    return services.deliveries_sweep()
