"""Delivery states and the one table of moves between them (``notify.services`` moves).

``pending`` waits for its first attempt, ``retrying`` for a later one; ``succeeded`` (a 2xx
answer) and ``failed`` (attempts used up, or the subscription gone) are final. A replay is
a new delivery, so a final one never moves again.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from baas import events


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", _("pending")
    RETRYING = "retrying", _("retrying")
    SUCCEEDED = "succeeded", _("succeeded")
    FAILED = "failed", _("failed")


DELIVERY_OPEN = frozenset({DeliveryStatus.PENDING, DeliveryStatus.RETRYING})
DELIVERY_FINAL = frozenset({DeliveryStatus.SUCCEEDED, DeliveryStatus.FAILED})

DELIVERY_TRANSITIONS: dict[str, frozenset[str]] = {
    DeliveryStatus.PENDING: frozenset({DeliveryStatus.RETRYING, DeliveryStatus.SUCCEEDED,
                                       DeliveryStatus.FAILED}),
    DeliveryStatus.RETRYING: frozenset({DeliveryStatus.RETRYING, DeliveryStatus.SUCCEEDED,
                                        DeliveryStatus.FAILED}),
    DeliveryStatus.SUCCEEDED: frozenset(),
    DeliveryStatus.FAILED: frozenset(),
}

# What each event type means, in the reader's language (portal and API choices).
EVENT_TYPE_TITLES = {
    events.OPERATION_FINISHED: _("An operation finished (succeeded, failed or cancelled)"),
    events.NETWORK_DEGRADED: _("A network became degraded (a validator is down)"),
    events.NETWORK_RECOVERED: _("A degraded network runs normally again"),
    events.VALIDATOR_DOWN: _("A validator has been down for several minutes"),
    events.CHAINCODE_INSTALLED: _("A chaincode version was installed on a network"),
    events.QUOTA_NEARLY_USED: _("A quota of the plan is 80 percent used"),
}
