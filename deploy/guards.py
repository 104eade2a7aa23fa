"""Checks shared by the request-side services of deploy (no writes here)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.utils.translation import gettext as _

from baas.choices import ACTIVE
from baas.errors import Conflict, PermissionDenied
from baas.models import Operation
from deploy.choices import OperationKind
from deploy.models import Network


def require_owner(tenant: Any, network: Network) -> None:
    """Consortium members read a network; only its owner starts, stops or deletes it."""
    if network.tenant_id != getattr(tenant, "pk", None):
        raise PermissionDenied(
            "network_owner_only",
            _("Only the organisation that owns the network can do this."),
        )


# Other apps' work on a network that deploy cannot see in its own operations (an export or
# a backup targets its archive): each check raises ``Conflict`` while it runs. Registered
# from the other app's ``ready()``, so deploy never imports it.
_busy_checks: list[Callable[[Network], None]] = []


def register_busy_check(check: Callable[[Network], None]) -> None:
    if check not in _busy_checks:
        _busy_checks.append(check)


def not_busy_elsewhere(network: Network) -> None:
    for check in _busy_checks:
        check(network)


def no_active_validator_change(network: Network) -> None:
    not_busy_elsewhere(network)
    busy = Operation.objects.filter(
        target_type="deploy.network", target_id=str(network.pk), state__in=ACTIVE,
        kind__in=[OperationKind.VALIDATOR_ADD, OperationKind.VALIDATOR_REMOVE,
                  OperationKind.MEMBER_REMOVE, OperationKind.ORG_ADD,
                  OperationKind.CHAINCODE_INSTALL, OperationKind.NETWORK_UPGRADE],
    ).exists()
    if busy:
        raise Conflict(
            "operation_in_progress",
            _("A validator, membership, chaincode or ledger version change of this network "
              "is still running; wait for it to finish."),
        )
