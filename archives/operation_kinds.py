"""Archives' operation kinds in the registry (``baas.operation_kinds``).

A stalled export or backup is not resumed: its archive fails and the user asks again (a
half-written archive is never kept). A restore is not cancellable halfway: its failure
policy removes the new network instead."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone

from archives.choices import NETWORK_BACKUP, NETWORK_EXPORT, NETWORK_RESTORE
from baas.operation_kinds import register_kind

# Silence after which a copy counts as dead rather than slow (packing a large chain's data
# reports nothing for a while). Until then the network stays busy; after it the copy fails,
# the network is free again and the reconciler starts any validator the copy had stopped.
STALLED_AFTER = timedelta(minutes=10)


def _fail_stalled_copy(op: Any) -> bool:
    """The reconciler's resume hook for a silent export or backup: never resumed (half an
    archive is never kept), failed once it has been silent for ``STALLED_AFTER``."""
    if op.updated_at > timezone.now() - STALLED_AFTER:
        return False
    from archives.services import copy_stalled

    copy_stalled(op)
    return False  # nothing was queued again


def register() -> None:
    reason = "Copying a network cannot be cancelled halfway; wait for it to end."
    for kind in (NETWORK_EXPORT, NETWORK_BACKUP):
        register_kind(kind, resume=_fail_stalled_copy, cancellable=False,
                      not_cancellable_reason=reason)
    register_kind(NETWORK_RESTORE, cancellable=False, not_cancellable_reason=(
        "A restore cannot be cancelled halfway; delete the new network once it ends."))
