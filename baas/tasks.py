"""Periodic housekeeping for operations."""

from celery import shared_task

from baas.operations import operations_reap


@shared_task(name="baas.tasks.operations_reap_task")
def operations_reap_task() -> int:
    """Fail operations stuck past their deadline (scheduled by beat every minute)."""
    return len(operations_reap())
