"""Checks shared by the request-side services of deploy (no writes here)."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _

from baas.choices import ACTIVE
from baas.errors import Conflict, PermissionDenied
from baas.models import Operation
from deploy import busy
from deploy.choices import OperationKind
from deploy.models import Network


def require_owner(tenant: Any, network: Network) -> None:
    """Consortium members read a network; only its owner starts, stops or deletes it."""
    if network.tenant_id != getattr(tenant, "pk", None):
        raise PermissionDenied(
            "network_owner_only",
            _("Only the organisation that owns the network can do this."),
        )


# Other apps' work on a network (an export or a backup) lives in deploy.busy, low enough
# for the reconciler to consult as well.
register_busy_check = busy.register_busy_check
not_busy_elsewhere = busy.not_busy_elsewhere


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
