"""Work of other apps on a network that deploy cannot see in its own operations.

An export or a backup (``archives``) targets its archive, not the network, yet it stops
and starts the network's validators one by one. Each registered check raises ``Conflict``
while such work runs; the request-side services (through ``deploy.guards``) refuse
lifecycle and governance changes meanwhile, and the reconciler leaves the network alone.
Checks are registered from the other app's ``ready()``, so deploy never imports it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

_busy_checks: list[Callable[[Any], None]] = []


def register_busy_check(check: Callable[[Any], None]) -> None:
    if check not in _busy_checks:
        _busy_checks.append(check)


def not_busy_elsewhere(network: Any) -> None:
    for check in _busy_checks:
        check(network)


def busy_elsewhere(network: Any) -> bool:
    """Whether a registered check refuses ``network`` now (for the reconciler)."""
    from baas.errors import Conflict

    try:
        not_busy_elsewhere(network)
    except Conflict:
        return True
    return False
