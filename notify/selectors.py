"""Reads of the notify app: a tenant's subscriptions and deliveries, nothing of another's."""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import QuerySet

from baas.errors import NotFound, ValidationFailed
from notify.choices import DeliveryStatus
from notify.models import Delivery, Subscription


def _uuid(value: Any, what: str) -> str:
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        raise NotFound("not_found", f"{what} not found.") from None


def subscription_list(*, tenant: Any) -> QuerySet[Subscription]:
    return Subscription.objects.for_tenant(tenant)


def subscription_get(*, tenant: Any, subscription_id: Any) -> Subscription:
    pk = _uuid(subscription_id, "Webhook")
    sub = Subscription.objects.for_tenant(tenant).filter(pk=pk).first()
    if sub is None:
        raise NotFound("not_found", "Webhook not found.")
    return sub


def delivery_list(*, tenant: Any, filters: dict[str, Any] | None = None
                  ) -> QuerySet[Delivery]:
    """Newest first; ``filters``: ``subscription`` (id), ``status``, ``event_type``."""
    filters = filters or {}
    qs = Delivery.objects.for_tenant(tenant).select_related("event", "subscription")
    if filters.get("subscription"):
        try:
            qs = qs.filter(subscription_id=uuid.UUID(str(filters["subscription"])))
        except ValueError:
            raise ValidationFailed("invalid_filter", "subscription is a webhook id.") from None
    if filters.get("status"):
        if filters["status"] not in DeliveryStatus.values:
            raise ValidationFailed("invalid_filter",
                                   f"status is one of {', '.join(DeliveryStatus.values)}.")
        qs = qs.filter(status=filters["status"])
    if filters.get("event_type"):
        qs = qs.filter(event__type=str(filters["event_type"])[:64])
    return qs


def delivery_get(*, tenant: Any, delivery_id: Any) -> Delivery:
    pk = _uuid(delivery_id, "Delivery")
    delivery = (Delivery.objects.for_tenant(tenant).select_related("event", "subscription")
                .prefetch_related("attempt_set").filter(pk=pk).first())
    if delivery is None:
        raise NotFound("not_found", "Delivery not found.")
    return delivery
