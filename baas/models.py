"""Shared models: ``Operation``, the record of one piece of asynchronous work."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from baas.choices import OperationState
from baas.querysets import TenantScopedQuerySet


class Operation(models.Model):
    """Asynchronous work a tenant asked for (send an email, create a network, ...).

    Only ``baas.operations`` changes ``state``, ``progress`` and ``steps``.
    """

    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=64)
    target_type = models.CharField(max_length=64, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    state = models.CharField(
        max_length=16, choices=OperationState.choices, default=OperationState.QUEUED
    )
    progress = models.PositiveSmallIntegerField(default=0)
    # [{"time": iso8601, "message": str}, ...] in order.
    steps = models.JSONField(default=list, blank=True)
    error_code = models.CharField(max_length=64, blank=True)
    error_message = models.TextField(blank=True)
    # NULL, not "", so operations without a key never collide in the unique constraint.
    idempotency_key = models.CharField(max_length=128, null=True, blank=True)  # noqa: DJ001
    deadline = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # The run that holds the operation (``baas.runner``): a second delivery of the same task
    # finds a fresh heartbeat and exits; a run whose claim was taken over stops quietly.
    claim = models.CharField(max_length=32, blank=True)
    # What the work needs beyond its target (e.g. a chaincode to install), so a stalled
    # operation can be resumed from the row alone.
    params = models.JSONField(default=dict, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    objects = TenantScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "idempotency_key"], name="operation_idempotency_per_tenant"
            ),
        ]
        indexes = [models.Index(fields=["tenant", "state"])]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk} ({self.state})"


class MetricTotal(models.Model):
    """A running total that background work adds to and ``/metrics`` reads.

    Celery workers, beat and every web worker are separate processes (separate pods in
    Kubernetes); the database is what they all share, so totals of background work (the
    reconciler's passes and what they repaired) live here rather than in one process's
    memory, and survive restarts as a Prometheus counter should.
    """

    name = models.CharField(max_length=64)
    label = models.CharField(max_length=64, blank=True)
    value = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["name", "label"], name="baas_metric_total_key"),
        ]

    def __str__(self) -> str:
        return f"{self.name}{{{self.label}}}={self.value}"
