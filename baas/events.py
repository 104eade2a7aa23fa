"""Events the platform publishes to tenants (webhooks, ``docs/webhooks.md``).

``publish`` is what a change calls: deploy's reconciler (a network degraded), the operation
service (an operation finished), quotas (nearly used), ... ``baas`` imports no app, so the
outbox itself lives in the app that delivers (``notify``), which registers its recorder
here in ``AppConfig.ready``. The recorder writes the event row in the caller's open
transaction: a change rolled back takes its event with it, a committed one keeps it even if
the process dies right after (a periodic sweep delivers what no task picked up).

Without a recorder (an install without ``notify``) publishing does nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.db import transaction

logger = logging.getLogger(__name__)

# The types a subscription can choose; the value is the English description shown where
# the portal has no translation (``notify.choices`` words them for the portal).
OPERATION_FINISHED = "operation.finished"
NETWORK_DEGRADED = "network.degraded"
NETWORK_RECOVERED = "network.recovered"
VALIDATOR_DOWN = "validator.down"
CHAINCODE_INSTALLED = "chaincode.installed"
QUOTA_NEARLY_USED = "quota.nearly_used"
EVENT_TYPES = (OPERATION_FINISHED, NETWORK_DEGRADED, NETWORK_RECOVERED, VALIDATOR_DOWN,
               CHAINCODE_INSTALLED, QUOTA_NEARLY_USED)

Recorder = Callable[..., Any]
_recorder: list[Recorder] = []


def register_recorder(recorder: Recorder) -> None:
    """Called once by the delivering app; a second registration replaces the first."""
    _recorder[:] = [recorder]


def publish(*, tenant: Any, type: str, data: dict[str, Any],  # noqa: A002
            dedupe_key: str = "") -> Any:
    """Record event ``type`` for ``tenant`` in the current transaction.

    ``dedupe_key`` makes a repeated publish of the same fact (a validator still down on the
    next reconciler pass, a resumed chaincode install) a no-op. A recorder failure never
    fails the change that published: the change is what the caller came for, so the
    failure is logged and the event dropped (its savepoint rolled back alone).
    """
    if type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {type!r}")
    if not _recorder or tenant is None:
        return None
    try:
        with transaction.atomic():
            return _recorder[0](tenant=tenant, type=type, data=data, dedupe_key=dedupe_key)
    except Exception:  # noqa: BLE001 -- see above
        logger.exception("recording event %s for tenant %s failed", type,
                         getattr(tenant, "pk", tenant))
        return None
