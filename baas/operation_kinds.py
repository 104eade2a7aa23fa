"""The registry of operation kinds: what each app's background work can do when it stalls or
is cancelled.

An app registers its kinds once (in its ``AppConfig.ready``). The reconciler asks the
registry how to resume a stalled operation instead of guessing from some other row's
status, and ``operation_cancel`` asks whether a kind can be cancelled at all: work that
cannot be undone halfway (deleting a network, say) refuses the cancel with a clear 409
rather than leaving its target half-changed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class KindSpec:
    kind: str
    # Queue the work again for a stalled operation (called with the Operation row).
    resume: Callable[[Any], None] | None = None
    # Whether a user may cancel it; a cancel is seen by the running work between steps.
    cancellable: bool = True
    # Why not, in words a person understands (shown with the 409).
    not_cancellable_reason: str = ""


_KINDS: dict[str, KindSpec] = {}


def register_kind(
    kind: str,
    *,
    resume: Callable[[Any], None] | None = None,
    cancellable: bool = True,
    not_cancellable_reason: str = "",
) -> KindSpec:
    spec = KindSpec(kind, resume, cancellable, not_cancellable_reason)
    _KINDS[kind] = spec
    return spec


def kind_spec(kind: str) -> KindSpec | None:
    return _KINDS.get(kind)


def registered_kinds() -> list[str]:
    return sorted(_KINDS)
