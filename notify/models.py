"""Webhook subscriptions, the events published to them (the outbox) and their deliveries.

``Event`` rows are written by ``baas.events.publish`` in the publisher's transaction,
together with one ``Delivery`` per matching subscription: the deliveries are the outbox a
task works through. Each HTTP request is an ``Attempt``.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from baas.querysets import TenantScopedQuerySet
from notify.choices import DeliveryStatus


class Subscription(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE,
                               related_name="webhook_subscriptions")
    name = models.CharField(max_length=100)
    url = models.URLField(max_length=2000)
    # A subset of ``baas.events.EVENT_TYPES``.
    event_types = models.JSONField(default=list)
    # The signing secret, sealed (``deploy.crypto``): HMAC needs the key itself, so a hash
    # would not do. Shown once, when made or rotated.
    sealed_secret = models.BinaryField()
    active = models.BooleanField(default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = TenantScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} -> {self.url}"


class Event(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="+")
    type = models.CharField(max_length=64)
    data = models.JSONField(default=dict)
    # NULL when the publisher gave none, so those never collide.
    dedupe_key = models.CharField(max_length=200, null=True, blank=True)  # noqa: DJ001
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "dedupe_key"],
                                    name="notify_event_dedupe_per_tenant"),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.pk}"


class Delivery(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="+")
    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE,
                                     related_name="deliveries")
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="deliveries")
    # A replay is a new delivery of the same event that points at the one it repeats.
    # CASCADE, not SET_NULL: a replay set to NULL would collide with the first delivery
    # (``notify_delivery_once``); deliveries only go with their subscription or event anyway.
    replay_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE,
                                  related_name="replays")
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices,
                              default=DeliveryStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=64, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = TenantScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # One first delivery per event and subscription, however often it is published.
            models.UniqueConstraint(fields=["event", "subscription"],
                                    condition=Q(replay_of__isnull=True),
                                    name="notify_delivery_once"),
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"])]

    def __str__(self) -> str:
        return f"{self.event.type} -> {self.subscription_id} ({self.status})"


class Attempt(models.Model):
    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempt_set")
    number = models.PositiveSmallIntegerField()
    started_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField(default=0)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    # A stable code (``timeout``, ``address_refused``, ``http_status``, ...) and its words.
    error = models.CharField(max_length=64, blank=True)
    error_message = models.CharField(max_length=500, blank=True)
    # The start of the answer (capped), for whoever debugs their receiver.
    response_excerpt = models.CharField(max_length=1000, blank=True)

    class Meta:
        ordering = ["number", "id"]
        constraints = [
            models.UniqueConstraint(fields=["delivery", "number"], name="notify_attempt_once"),
        ]

    def __str__(self) -> str:
        return f"attempt {self.number} of {self.delivery_id}"
