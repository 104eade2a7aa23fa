"""States of an ``Operation`` and the only moves allowed between them."""

from __future__ import annotations

from django.db import models


class OperationState(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


S = OperationState

# from-state -> states it may move to. Terminal states go nowhere.
OPERATION_TRANSITIONS: dict[str, frozenset[str]] = {
    S.QUEUED: frozenset({S.RUNNING, S.FAILED, S.CANCELLED}),
    S.RUNNING: frozenset({S.SUCCEEDED, S.FAILED, S.CANCELLED}),
    S.SUCCEEDED: frozenset(),
    S.FAILED: frozenset(),
    S.CANCELLED: frozenset(),
}

ACTIVE: frozenset[str] = frozenset({S.QUEUED, S.RUNNING})
TERMINAL: frozenset[str] = frozenset({S.SUCCEEDED, S.FAILED, S.CANCELLED})


def can_transition(from_state: str, to_state: str) -> bool:
    return to_state in OPERATION_TRANSITIONS.get(from_state, frozenset())
