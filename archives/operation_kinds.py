"""Archives' operation kinds in the registry (``baas.operation_kinds``).

A stalled export or backup is not resumed: its archive fails and the user asks again (a
half-written archive is never kept). A restore is not cancellable halfway: its failure
policy removes the new network instead."""

from __future__ import annotations

from archives.choices import NETWORK_BACKUP, NETWORK_EXPORT, NETWORK_RESTORE
from baas.operation_kinds import register_kind


def register() -> None:
    reason = "Copying a network cannot be cancelled halfway; wait for it to end."
    for kind in (NETWORK_EXPORT, NETWORK_BACKUP):
        register_kind(kind, cancellable=False, not_cancellable_reason=reason)
    register_kind(NETWORK_RESTORE, cancellable=False, not_cancellable_reason=(
        "A restore cannot be cancelled halfway; delete the new network once it ends."))
